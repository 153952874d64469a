import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import type { Backbone, BackboneDimensions, TowerHooks } from '../../backbones/types.js';
import { cosineLogits } from '../features.js';
import type { Attachment, CreateOptions, ModuleBatch, ModuleContext, ModuleManifest, SourceRecord, TuningMethod, TuningModule } from '../types.js';
import {
  checkLayers,
  checkWidth,
  configFromManifest,
  normalVariable,
  positiveInteger,
  range,
  sourceRecord,
  uniformVariable,
  variablesFromSaved,
} from './support.js';

/**
 * Config of VPT-deep on the vision tower of a CLIP-style backbone. Sources: VPT's code
 * (github.com/KMnP/vpt, `src/models/vit_prompt/vit.py`, `src/configs/config.py`) and the VPT-deep baseline
 * on CLIP in MaPLe's code (github.com/muzairkhattak/multimodal-prompt-learning,
 * `configs/trainers/VPT/vit_b16_c2_ep5_batch4_4.yaml`).
 */
export interface VptDeepConfig {
  /**
   * Prompt tokens per layer. Default 8, as MaPLe's VPT baseline on CLIP ViT-B/16 (`N_CTX_VISION`); VPT's
   * own config default is 5 (`MODEL.PROMPT.NUM_TOKENS`).
   */
  readonly promptTokens: number;
  /**
   * Vision layers that get a fresh prompt set, counted from the input: `all` or a count. Layers beyond the
   * count keep the previous layer's prompt outputs. Default `all`, as VPT-deep and MaPLe's baseline
   * (`PROMPT_DEPTH_VISION` 12 of 12).
   */
  readonly promptDepth: 'all' | number;
  /**
   * Prompt initialization: `xavier-uniform` draws from ±√(6 / (3·patch² + width)) as VPT does, `normal`
   * from normal(0, 0.02) as MaPLe's VPT baseline does. Default `xavier-uniform`.
   */
  readonly init: 'xavier-uniform' | 'normal';
}

const configCodec = t.partial({
  promptTokens: positiveInteger,
  promptDepth: t.union([t.literal('all'), positiveInteger]),
  init: t.keyof({ 'xavier-uniform': null, normal: null }),
});

const defaults: VptDeepConfig = { promptTokens: 8, promptDepth: 'all', init: 'xavier-uniform' };

const methodName = 'vpt-deep';

/** Standard deviation of the `normal` initialization (MaPLe's `nn.init.normal_(ctx_vectors, std=0.02)`). */
const normalInitStd = 0.02;

/** Number of vision layers with their own prompt set on a backbone of the given dimensions. */
function depthOf(config: VptDeepConfig, dims: BackboneDimensions): number {
  return config.promptDepth === 'all' ? dims.visionLayers : config.promptDepth;
}

function parameterName(layer: number): string {
  return `vision.${layer}.prompt`;
}

/** Names and shapes of every prompt set, one [promptTokens, visionWidth] per layer. */
function parameterShapes(config: VptDeepConfig, dims: BackboneDimensions): Map<string, number[]> {
  return new Map(range(depthOf(config, dims)).map((layer) => [parameterName(layer), [config.promptTokens, dims.visionWidth]]));
}

/**
 * A VPT-deep module. Layer 0's prompts are inserted right after the class token at the vision input. They
 * go after the position embeddings and before the pre-norm (CLIP's ln_pre), where MaPLe's VPT baseline on
 * CLIP places them, and get no position embedding. Before every later layer up to the prompt depth, a
 * fresh set replaces the previous layer's prompt outputs, so the sequence length stays constant. The text
 * side is the frozen zero-shot classifier of the backbone in use.
 */
class VptDeepModule implements TuningModule {
  readonly method = methodName;
  readonly kind = 'deep' as const;
  readonly attachment: Attachment;
  private readonly depth: number;
  private readonly hooks: TowerHooks;

  constructor(
    readonly config: VptDeepConfig,
    readonly classNames: readonly string[],
    readonly template: string,
    readonly source: SourceRecord,
    private readonly variables: Map<string, tf.Variable>,
  ) {
    this.depth = depthOf(config, source.dims);
    this.attachment = {
      depth: 'vision-layers',
      towers: ['vision'],
      layers: { text: [], vision: range(this.depth) },
      text: 'frozen-features',
      vision: 'backprop',
    };
    // VPT places its prompts after the class token; MaPLe's CLIP code appends them after the patches.
    // The two give the same class-token output because vision attention has no mask and the prompts
    // carry no position embedding.
    this.hooks = {
      inputPrompt: () => ({ tokens: this.prompt(0), at: 1, mode: 'insert' }),
      layerPrompt: (layer) => (layer >= 1 && layer < this.depth ? { tokens: this.prompt(layer), at: 1, mode: 'replace' } : undefined),
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
      const classifier = context.features.zeroShotClassifier(backbone, this.classNames, this.template);
      return cosineLogits(backbone.encodeImage(images, this.hooks), classifier, backbone.logitScale);
    });
  }

  dispose(): void {
    for (const variable of this.variables.values()) variable.dispose();
    this.variables.clear();
  }

  private prompt(layer: number): tf.Tensor2D {
    const variable = this.variables.get(parameterName(layer));
    if (variable === undefined) throw new Error(`${methodName}: no prompt set for vision layer ${layer}; the module was disposed or restored incompletely`);
    return variable as tf.Tensor2D;
  }

  private checkBackbone(backbone: Backbone): void {
    checkWidth(methodName, this.source, backbone, 'visionWidth');
    checkLayers(methodName, backbone, 'vision', this.depth);
  }
}

function create(options: CreateOptions<VptDeepConfig>): TuningModule {
  const { backbone, config, random } = options;
  const dims = backbone.dims;
  if (depthOf(config, dims) > dims.visionLayers) {
    throw new Error(`${methodName}: promptDepth ${config.promptDepth} exceeds the ${dims.visionLayers} vision layers of ${backbone.identity.name}; set promptDepth to at most ${dims.visionLayers} or 'all'`);
  }

  // VPT's bound is Xavier's for a layer with fan-in 3·patch² (the patch embedding) and fan-out width.
  const xavierBound = Math.sqrt(6 / (3 * dims.patchSize * dims.patchSize + dims.visionWidth));
  const variables = new Map<string, tf.Variable>();
  for (const [name, shape] of parameterShapes(config, dims)) {
    const draw = random.fork(name);
    variables.set(name, config.init === 'xavier-uniform' ? uniformVariable(draw, shape, xavierBound) : normalVariable(draw, shape, normalInitStd));
  }
  return new VptDeepModule(config, [...options.classNames], options.template, sourceRecord(backbone), variables);
}

function restore(manifest: ModuleManifest, tensors: Map<string, tf.Tensor>): TuningModule {
  const config = configFromManifest(methodName, configCodec as t.Type<Partial<VptDeepConfig>, unknown, unknown>, defaults, manifest);
  const variables = variablesFromSaved(methodName, tensors, parameterShapes(config, manifest.source.dims));
  return new VptDeepModule(config, manifest.classNames, manifest.template, manifest.source, variables);
}

/** VPT-deep (Jia et al., ECCV 2022) on the vision tower, with the frozen zero-shot text classifier. */
export const vptDeepMethod: TuningMethod<VptDeepConfig> = {
  name: methodName,
  kind: 'deep',
  description: 'VPT-deep (Jia et al., ECCV 2022): a fresh set of learned prompt tokens before every vision layer.',
  configCodec: configCodec as unknown as t.Type<VptDeepConfig, unknown, unknown>,
  defaults,
  // MaPLe's VPT baseline on CLIP (vit_b16_c2_ep5_batch4_4.yaml): SGD lr 0.0025, batch 4, 5 epochs, cosine,
  // 1 warmup epoch at a constant 1e-5. Weight decay 5e-4 and momentum 0.9 are Dassl's defaults, which that
  // config keeps.
  training: {
    optimizer: 'sgd',
    learningRate: 0.0025,
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
