import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import type { TokenizedBatch } from '../../backbones/tokenizer.js';
import type { Backbone, BackboneDimensions, TowerHooks } from '../../backbones/types.js';
import { getLogger } from '../../runtime/logger.js';
import { matMul } from '../../runtime/matmul.js';
import { cosineLogits } from '../features.js';
import type { Attachment, CreateOptions, ModuleBatch, ModuleContext, ModuleManifest, SourceRecord, TuningMethod, TuningModule } from '../types.js';
import {
  checkLayers,
  checkWidth,
  configFromManifest,
  linearInitBound,
  normalVariable,
  positiveInteger,
  range,
  sourceRecord,
  uniformVariable,
  variablesFromSaved,
} from './support.js';

/**
 * Config of MaPLe. Defaults are those of MaPLe's code (github.com/muzairkhattak/multimodal-prompt-learning,
 * `configs/trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml` and `train.py`).
 */
export interface MapleConfig {
  /** Prompt tokens per depth, the same in both towers. Default 2 (`N_CTX`). */
  readonly contextTokens: number;
  /**
   * Transformer layers with prompts, counting the input as the first: text and vision prompts at the input
   * and fresh ones before layers 1..promptDepth-1. Default 9 (`PROMPT_DEPTH`).
   */
  readonly promptDepth: number;
  /**
   * Words whose token embeddings initialize the input text prompts. The class prompt is these words, the
   * class name and a period, and its first `contextTokens` tokens are learned. As in MaPLe's code, the words
   * are used only when non-empty and `contextTokens` ≤ 4. Otherwise the prompts start from normal(0, 0.02)
   * behind "X" placeholders. Default "a photo of a" (`CTX_INIT`).
   */
  readonly contextInit: string;
}

const configCodec = t.partial({ contextTokens: positiveInteger, promptDepth: positiveInteger, contextInit: t.string });

const defaults: MapleConfig = { contextTokens: 2, promptDepth: 9, contextInit: 'a photo of a' };

const methodName = 'maple';

/** Standard deviation of randomly initialized text prompts (MaPLe's `nn.init.normal_(..., std=0.02)`). */
const promptInitStd = 0.02;

/** MaPLe initializes from words only for at most this many prompt tokens (`n_ctx <= 4`). */
const maxWordInitTokens = 4;

function usesWordInit(config: MapleConfig): boolean {
  return config.contextInit.trim() !== '' && config.contextTokens <= maxWordInitTokens;
}

/** Text before the class name in every class prompt. */
function promptPrefix(config: MapleConfig): string {
  return usesWordInit(config) ? config.contextInit.trim() : Array.from({ length: config.contextTokens }, () => 'X').join(' ');
}

function textPromptName(depth: number): string {
  return `text.${depth}.prompt`;
}

/** Names and shapes of every parameter: a text prompt set and a text→vision coupling per depth. */
function parameterShapes(config: MapleConfig, dims: BackboneDimensions): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const depth of range(config.promptDepth)) {
    shapes.set(textPromptName(depth), [config.contextTokens, dims.textWidth]);
    shapes.set(`coupling.${depth}.weight`, [dims.textWidth, dims.visionWidth]);
    shapes.set(`coupling.${depth}.bias`, [dims.visionWidth]);
  }
  return shapes;
}

/**
 * A MaPLe module. At every depth d < promptDepth a learned text prompt set replaces the `contextTokens`
 * tokens after SOT (at the input for d = 0, before text layer d otherwise), and the coupling function of
 * depth d, a linear map from text width to vision width, projects that set into the vision prompts of the
 * same depth. Vision prompts are inserted at the vision input, after the position embeddings and before
 * the pre-norm as MaPLe places them, and replaced before vision layers 1..promptDepth-1. The class prompts
 * come from `contextInit`, as in MaPLe's code, so `template` is only recorded.
 */
class MapleModule implements TuningModule {
  readonly method = methodName;
  readonly kind = 'deep' as const;
  readonly attachment: Attachment;
  private readonly tokenized = new WeakMap<Backbone, TokenizedBatch>();
  private readonly textHooks: TowerHooks;
  private readonly visionHooks: TowerHooks;

  constructor(
    readonly config: MapleConfig,
    readonly classNames: readonly string[],
    readonly template: string,
    readonly source: SourceRecord,
    private readonly variables: Map<string, tf.Variable>,
  ) {
    const layers = range(config.promptDepth);
    this.attachment = { depth: 'both-layers', towers: ['text', 'vision'], layers: { text: layers, vision: layers }, text: 'backprop', vision: 'backprop' };
    const deeper = (layer: number) => layer >= 1 && layer < config.promptDepth;

    this.textHooks = {
      inputPrompt: () => ({ tokens: this.textPrompt(0), at: 1, mode: 'replace' }),
      layerPrompt: (layer) => (deeper(layer) ? { tokens: this.textPrompt(layer), at: 1, mode: 'replace' } : undefined),
    };
    // MaPLe appends the vision prompts after the patch tokens. Placing them after the class token gives the
    // same class-token output, because vision attention has no mask and the prompts carry no position.
    this.visionHooks = {
      inputPrompt: () => ({ tokens: this.visionPrompt(0), at: 1, mode: 'insert' }),
      layerPrompt: (layer) => (deeper(layer) ? { tokens: this.visionPrompt(layer), at: 1, mode: 'replace' } : undefined),
    };
  }

  parameters(): ReadonlyMap<string, tf.Variable> {
    return this.variables;
  }

  buffers(): ReadonlyMap<string, tf.Tensor> {
    return new Map();
  }

  logits(context: ModuleContext, batch: ModuleBatch): tf.Tensor2D {
    const backbone = context.backbone;
    this.checkBackbone(backbone);
    if (batch.images === undefined) throw new Error(`${methodName} prompts the vision tower and needs batch.images (preprocessed pixels), not frozen image features`);
    const images = batch.images;

    return tf.tidy(() => {
      const classFeatures = backbone.encodeText(this.prompts(backbone), this.textHooks); // [classes, embedDim]
      const imageFeatures = backbone.encodeImage(images, this.visionHooks); // [batch, embedDim]
      return cosineLogits(imageFeatures, classFeatures, backbone.logitScale);
    });
  }

  dispose(): void {
    for (const variable of this.variables.values()) variable.dispose();
    this.variables.clear();
  }

  /** Vision prompts of one depth: the coupling function applied to that depth's text prompts → [contextTokens, visionWidth]. */
  private visionPrompt(depth: number): tf.Tensor2D {
    return tf.tidy(() => tf.add(matMul(this.textPrompt(depth), this.variable(`coupling.${depth}.weight`) as tf.Tensor2D), this.variable(`coupling.${depth}.bias`)) as tf.Tensor2D);
  }

  private textPrompt(depth: number): tf.Tensor2D {
    return this.variable(textPromptName(depth)) as tf.Tensor2D;
  }

  private variable(name: string): tf.Variable {
    const variable = this.variables.get(name);
    if (variable === undefined) throw new Error(`${methodName}: no parameter ${name}; the module was disposed or restored incompletely`);
    return variable;
  }

  /** Class prompts "<prefix> <class name>." tokenized by `backbone`, whose positions 1..contextTokens the text prompts replace. */
  private prompts(backbone: Backbone): TokenizedBatch {
    let tokenized = this.tokenized.get(backbone);
    if (tokenized === undefined) {
      const prefix = promptPrefix(this.config);
      tokenized = backbone.tokenize(this.classNames.map((name) => `${prefix} ${name}.`));
      this.tokenized.set(backbone, tokenized);
    }
    return tokenized;
  }

  private checkBackbone(backbone: Backbone): void {
    checkWidth(methodName, this.source, backbone, 'textWidth');
    checkWidth(methodName, this.source, backbone, 'visionWidth');
    checkLayers(methodName, backbone, 'text', this.config.promptDepth);
    checkLayers(methodName, backbone, 'vision', this.config.promptDepth);
  }
}

/** Token embeddings of the first `count` tokens of `words` on `backbone` → [count, textWidth]. */
function wordEmbeddings(backbone: Backbone, words: string, count: number): tf.Tensor2D {
  const tokenized = backbone.tokenize([words]);
  const available = (tokenized.lengths[0] as number) - 2;
  if (available < count) {
    throw new Error(`${methodName}: contextInit "${words}" has ${available} tokens, fewer than contextTokens ${count}; give a longer phrase or fewer context tokens`);
  }
  return tf.tidy(() => {
    const ids = tf.tensor2d(tokenized.ids, [1, tokenized.contextLength], 'int32');
    const embeddings = backbone.embedTokens(ids); // [1, contextLength, textWidth]
    return tf.reshape(tf.slice(embeddings, [0, 1, 0], [1, count, -1]), [count, backbone.dims.textWidth]) as tf.Tensor2D;
  });
}

function create(options: CreateOptions<MapleConfig>): TuningModule {
  const { backbone, config, random } = options;
  const dims = backbone.dims;
  for (const [tower, layers] of [['text', dims.textLayers], ['vision', dims.visionLayers]] as const) {
    if (config.promptDepth > layers) {
      throw new Error(`${methodName}: promptDepth ${config.promptDepth} exceeds the ${layers} ${tower} layers of ${backbone.identity.name}; set promptDepth to at most ${Math.min(dims.textLayers, dims.visionLayers)}`);
    }
  }
  if (config.contextInit.trim() !== '' && !usesWordInit(config)) {
    getLogger().warn(`${methodName}: contextInit "${config.contextInit}" is ignored because contextTokens ${config.contextTokens} > ${maxWordInitTokens}; prompts start from random values, as in MaPLe's code`);
  }

  const variables = new Map<string, tf.Variable>();
  for (const depth of range(config.promptDepth)) {
    const name = textPromptName(depth);
    if (depth === 0 && usesWordInit(config)) {
      const initial = wordEmbeddings(backbone, config.contextInit.trim(), config.contextTokens);
      variables.set(name, tf.variable(initial, true));
      initial.dispose();
    } else {
      variables.set(name, normalVariable(random.fork(name), [config.contextTokens, dims.textWidth], promptInitStd));
    }
  }

  // Couplings start as nn.Linear does. MaPLe's code deep-copies one nn.Linear for all deeper couplings, so
  // they share their initial values; the input coupling has its own.
  const bound = linearInitBound(dims.textWidth);
  const drawCoupling = (label: string) => ({
    weight: uniformVariable(random.fork(`${label}.weight`), [dims.textWidth, dims.visionWidth], bound),
    bias: uniformVariable(random.fork(`${label}.bias`), [dims.visionWidth], bound),
  });
  const input = drawCoupling('coupling.input');
  const deeper = drawCoupling('coupling.deeper');
  for (const depth of range(config.promptDepth)) {
    const source = depth === 0 ? input : deeper;
    // A variable made from another shares its values until the optimizer assigns new ones.
    variables.set(`coupling.${depth}.weight`, depth <= 1 ? source.weight : tf.variable(source.weight, true));
    variables.set(`coupling.${depth}.bias`, depth <= 1 ? source.bias : tf.variable(source.bias, true));
  }
  if (config.promptDepth < 2) tf.dispose([deeper.weight, deeper.bias]);

  return new MapleModule(config, [...options.classNames], options.template, sourceRecord(backbone), variables);
}

function restore(manifest: ModuleManifest, tensors: Map<string, tf.Tensor>): TuningModule {
  const config = configFromManifest(methodName, configCodec as t.Type<Partial<MapleConfig>, unknown, unknown>, defaults, manifest);
  const variables = variablesFromSaved(methodName, tensors, parameterShapes(config, manifest.source.dims));
  return new MapleModule(config, manifest.classNames, manifest.template, manifest.source, variables);
}

/** MaPLe (Khattak et al., CVPR 2023): multi-modal prompts, vision prompts coupled to text prompts. */
export const mapleMethod: TuningMethod<MapleConfig> = {
  name: methodName,
  kind: 'deep',
  description: 'MaPLe (Khattak et al., CVPR 2023): deep text prompts with vision prompts projected from them by per-depth linear couplings.',
  configCodec: configCodec as unknown as t.Type<MapleConfig, unknown, unknown>,
  defaults,
  // MaPLe's vit_b16_c2_ep5_batch4_2ctx.yaml (16 shots): SGD lr 0.0035, batch 4, 5 epochs, cosine, 1 warmup
  // epoch at a constant 1e-5. Weight decay 5e-4 and momentum 0.9 are Dassl's defaults, which that config keeps.
  training: {
    optimizer: 'sgd',
    learningRate: 0.0035,
    epochs: 5,
    batchSize: 4,
    weightDecay: 5e-4,
    warmupEpochs: 1,
    warmupLearningRate: 1e-5,
    momentum: 0.9,
  },
  create,
  restore,
};
