import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import type { TokenizedBatch } from '../../backbones/tokenizer.js';
import type { Backbone, ProjectionSite, Tower, TowerHooks } from '../../backbones/types.js';
import { matMul } from '../../runtime/matmul.js';
import type { Random } from '../../runtime/random.js';
import { cosineLogits, fillTemplate, l2Normalize } from '../features.js';
import type { Attachment, CreateOptions, ModuleBatch, ModuleContext, ModuleManifest, SourceRecord, TuningMethod, TuningModule } from '../types.js';
import {
  checkLayers,
  checkWidth,
  configFromManifest,
  dropoutRate,
  linearInitBound,
  nonNegativeInteger,
  positiveInteger,
  positiveNumber,
  range,
  sourceRecord,
  uniformVariable,
  variablesFromSaved,
  zeroVariable,
} from '../deep/support.js';

/** Attention projections CLIP-LoRA can adapt; `out` is the attention output projection (CLIP-LoRA's `o`). */
export type LoraProjection = 'q' | 'k' | 'v' | 'out';

/**
 * Config of CLIP-LoRA. Defaults are the argument defaults of the official code's `run_utils.py`
 * (github.com/MaxZanella/CLIP-LoRA).
 */
export interface ClipLoraConfig {
  /** Rank r of every low-rank delta. Default 2 (`--r`). */
  readonly rank: number;
  /** LoRA alpha, the numerator of the delta's scale. Default 1 (`--alpha`). */
  readonly alpha: number;
  /**
   * Divisor of alpha: `sqrt-rank` scales the delta by alpha / √r as CLIP-LoRA's `loralib/layers.py` does,
   * `rank` by alpha / r as Microsoft's loralib does. Default `sqrt-rank`.
   */
  readonly scaling: 'sqrt-rank' | 'rank';
  /** Dropout rate on the input of every delta, during training only. Default 0.25 (`--dropout_rate`). */
  readonly dropout: number;
  /** Projections that get a delta in every chosen layer. Default q, k, v (`--params`). */
  readonly projections: readonly LoraProjection[];
  /** Towers that get deltas. Default both (`--encoder both`). */
  readonly towers: readonly Tower[];
  /** Layers (0-based) that get deltas in every chosen tower, or `all`. Default `all` (`--position all`). */
  readonly layers: 'all' | readonly number[];
}

function distinctList<C extends t.Mixed>(item: C, name: string) {
  return t.refinement(t.array(item), (list) => list.length > 0 && new Set(list).size === list.length, name);
}

const projectionCodec = t.keyof({ q: null, k: null, v: null, out: null });
const towerCodec = t.keyof({ text: null, vision: null });

const configCodec = t.partial({
  rank: positiveInteger,
  alpha: positiveNumber,
  scaling: t.keyof({ 'sqrt-rank': null, rank: null }),
  dropout: dropoutRate,
  projections: distinctList(projectionCodec, 'non-empty list of distinct projections among q, k, v, out'),
  towers: distinctList(towerCodec, 'non-empty list of distinct towers among text, vision'),
  layers: t.union([t.literal('all'), distinctList(nonNegativeInteger, 'non-empty list of distinct layer indices')]),
});

const defaults: ClipLoraConfig = {
  rank: 2,
  alpha: 1,
  scaling: 'sqrt-rank',
  dropout: 0.25,
  projections: ['q', 'k', 'v'],
  towers: ['text', 'vision'],
  layers: 'all',
};

const methodName = 'clip-lora';

/** Official schedule length: `--n_iters` 500 times the shot count, in optimizer steps (CLIP-LoRA `lora.py`). */
const iterationsPerShot = 500;

/**
 * Converts CLIP-LoRA's schedule (500 × shots optimizer steps) into epochs of a training set of
 * `classes × shots` examples, rounded up so that at least that many steps run. CLIP-LoRA's loader keeps
 * the last partial batch, so an epoch has ⌈examples / batchSize⌉ steps.
 */
export function clipLoraEpochs(classes: number, shots: number, batchSize = 32): number {
  for (const [name, value] of [['classes', classes], ['shots', shots], ['batchSize', batchSize]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`clipLoraEpochs: ${name} = ${value}; give a positive integer`);
  }
  const stepsPerEpoch = Math.ceil((classes * shots) / batchSize);
  return Math.ceil((iterationsPerShot * shots) / stepsPerEpoch);
}

/** Layers with deltas in one tower of a backbone with the given dimensions. */
function layersOf(config: ClipLoraConfig, tower: Tower, dims: SourceRecord['dims']): number[] {
  if (!config.towers.includes(tower)) return [];
  const available = tower === 'text' ? dims.textLayers : dims.visionLayers;
  if (config.layers === 'all') return range(available);
  return [...config.layers].sort((a, b) => a - b);
}

function parameterKey(tower: Tower, layer: number, projection: LoraProjection): string {
  return `${tower}.${layer}.${projection}`;
}

/** Names and shapes of every parameter: lora_a [width, rank] and lora_b [rank, width] per site. */
function parameterShapes(config: ClipLoraConfig, dims: SourceRecord['dims']): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const tower of config.towers) {
    const width = tower === 'text' ? dims.textWidth : dims.visionWidth;
    for (const layer of layersOf(config, tower, dims)) {
      for (const projection of config.projections) {
        shapes.set(`${parameterKey(tower, layer, projection)}.lora_a`, [width, config.rank]);
        shapes.set(`${parameterKey(tower, layer, projection)}.lora_b`, [config.rank, width]);
      }
    }
  }
  return shapes;
}

function attachmentOf(config: ClipLoraConfig, dims: SourceRecord['dims']): Attachment {
  const text = config.towers.includes('text');
  const vision = config.towers.includes('vision');
  let depth: Attachment['depth'] = 'both-layers';
  if (!vision) depth = 'text-layers';
  else if (!text) depth = 'vision-layers';
  return {
    depth,
    towers: [...config.towers],
    layers: { text: layersOf(config, 'text', dims), vision: layersOf(config, 'vision', dims) },
    text: text ? 'backprop' : 'frozen-features',
    vision: vision ? 'backprop' : 'frozen-features',
  };
}

/**
 * A CLIP-LoRA module: a low-rank delta dropout(x)·A·B·scale added to the chosen attention projections of
 * the chosen layers of both towers. On a transplant the deltas are added to the target's projections at
 * the same layer indices.
 */
class ClipLoraModule implements TuningModule {
  readonly method = methodName;
  readonly kind = 'lora' as const;
  readonly attachment: Attachment;
  private readonly scale: number;
  private readonly tokenized = new WeakMap<Backbone, TokenizedBatch>();

  constructor(
    readonly config: ClipLoraConfig,
    readonly classNames: readonly string[],
    readonly template: string,
    readonly source: SourceRecord,
    private readonly variables: Map<string, tf.Variable>,
  ) {
    this.attachment = attachmentOf(config, source.dims);
    this.scale = config.alpha / (config.scaling === 'sqrt-rank' ? Math.sqrt(config.rank) : config.rank);
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
    if (context.training && this.config.dropout > 0 && context.random === undefined) {
      throw new Error(`${methodName}: training needs context.random to draw the dropout masks; pass a seeded Random in the module context`);
    }
    const hooks: TowerHooks = { projectionDelta: (site, input) => this.delta(site, input, context) };

    return tf.tidy(() => {
      // Text features are normalized once here as the zero-shot classifier is, so that B = 0 reproduces
      // the zero-shot logits bit for bit.
      const classFeatures = this.config.towers.includes('text')
        ? l2Normalize(backbone.encodeText(this.prompts(backbone), hooks))
        : context.features.zeroShotClassifier(backbone, this.classNames, this.template);
      const imageFeatures = this.config.towers.includes('vision') ? backbone.encodeImage(requireImages(batch), hooks) : requireFeatures(batch);
      return cosineLogits(imageFeatures, classFeatures, backbone.logitScale);
    });
  }

  dispose(): void {
    for (const variable of this.variables.values()) variable.dispose();
    this.variables.clear();
  }

  private prompts(backbone: Backbone): TokenizedBatch {
    let tokenized = this.tokenized.get(backbone);
    if (tokenized === undefined) {
      tokenized = backbone.tokenize(this.classNames.map((name) => fillTemplate(this.template, name)));
      this.tokenized.set(backbone, tokenized);
    }
    return tokenized;
  }

  /** Computes the delta for one projection site → [rows, width], or returns undefined where the module has none. */
  private delta(site: ProjectionSite, input: tf.Tensor2D, context: ModuleContext): tf.Tensor2D | undefined {
    if (site.projection === 'mlp_in' || site.projection === 'mlp_gate' || site.projection === 'mlp_out') return undefined;
    const key = parameterKey(site.tower, site.layer, site.projection);
    const a = this.variables.get(`${key}.lora_a`);
    const b = this.variables.get(`${key}.lora_b`);
    if (a === undefined || b === undefined) return undefined;
    if (input.shape[1] !== a.shape[0]) {
      throw new Error(`${methodName}: ${key} takes inputs of width ${a.shape[0]}, the backbone gives width ${input.shape[1]}; retrain the module on this backbone`);
    }

    let x = input;
    if (context.training && this.config.dropout > 0) {
      // A fresh seed per call draws a new mask at every site and step, reproducibly for a seeded run.
      x = tf.dropout(input, this.config.dropout, undefined, (context.random as Random).int(2 ** 31 - 1)) as tf.Tensor2D;
    }
    return tf.mul(matMul(matMul(x, a as tf.Tensor2D), b as tf.Tensor2D), this.scale) as tf.Tensor2D;
  }

  /** Throws unless every parameter fits `backbone`: same tower widths, and every trained layer present. */
  private checkBackbone(backbone: Backbone): void {
    for (const tower of this.config.towers) {
      checkWidth(methodName, this.source, backbone, tower === 'text' ? 'textWidth' : 'visionWidth');
      const layers = this.attachment.layers[tower];
      if (layers.length > 0) checkLayers(methodName, backbone, tower, Math.max(...layers) + 1);
    }
  }
}

function requireImages(batch: ModuleBatch): tf.Tensor4D {
  if (batch.images === undefined) throw new Error(`${methodName} adapts the vision tower and needs batch.images (preprocessed pixels), not frozen image features`);
  return batch.images;
}

function requireFeatures(batch: ModuleBatch): tf.Tensor2D {
  if (batch.imageFeatures === undefined) throw new Error(`${methodName} without the vision tower needs batch.imageFeatures (frozen image features)`);
  return batch.imageFeatures;
}

function create(options: CreateOptions<ClipLoraConfig>): TuningModule {
  const { backbone, config, random } = options;
  if (config.layers !== 'all') {
    for (const tower of config.towers) {
      const available = tower === 'text' ? backbone.dims.textLayers : backbone.dims.visionLayers;
      const outside = config.layers.filter((layer) => layer >= available);
      if (outside.length > 0) {
        throw new Error(`${methodName}: layers ${outside.join(', ')} do not exist in the ${available}-layer ${tower} tower of ${backbone.identity.name}; use indices 0..${available - 1}`);
      }
    }
  }

  // A is drawn as nn.Linear's default weight (kaiming_uniform_ with a = √5, fan-in = the projection's input
  // width) and B starts at zero, as CLIP-LoRA's init_lora_param does, so the module starts at zero-shot.
  const variables = new Map<string, tf.Variable>();
  for (const [name, shape] of parameterShapes(config, backbone.dims)) {
    if (name.endsWith('.lora_a')) variables.set(name, uniformVariable(random.fork(name), shape, linearInitBound(shape[0] as number)));
    else variables.set(name, zeroVariable(shape));
  }
  return new ClipLoraModule(config, [...options.classNames], options.template, sourceRecord(backbone), variables);
}

function restore(manifest: ModuleManifest, tensors: Map<string, tf.Tensor>): TuningModule {
  const config = configFromManifest(methodName, configCodec as t.Type<Partial<ClipLoraConfig>, unknown, unknown>, defaults, manifest);
  const variables = variablesFromSaved(methodName, tensors, parameterShapes(config, manifest.source.dims));
  return new ClipLoraModule(config, manifest.classNames, manifest.template, manifest.source, variables);
}

/** CLIP-LoRA (Zanella & Ben Ayed, CVPR Workshops 2024). */
export const clipLoraMethod: TuningMethod<ClipLoraConfig> = {
  name: methodName,
  kind: 'lora',
  description: 'CLIP-LoRA (Zanella & Ben Ayed, CVPRW 2024): rank-2 LoRA on q, k, v of every layer of both towers.',
  configCodec: configCodec as unknown as t.Type<ClipLoraConfig, unknown, unknown>,
  defaults,
  // From CLIP-LoRA's lora.py and run_utils.py: AdamW with lr 2e-4, betas (0.9, 0.999) and weight decay
  // 1e-2, batch 32, cosine decay without warmup over 500 × shots steps.
  // NOTE: the official schedule is counted in steps and decays to 1e-6, not 0. The epochs below convert it
  // for the official default run (DTD, 47 classes, 16 shots), which is 8000 steps of 24 per epoch. Use
  // clipLoraEpochs for other data sets.
  training: {
    optimizer: 'adamw',
    learningRate: 2e-4,
    epochs: clipLoraEpochs(47, 16),
    batchSize: 32,
    weightDecay: 1e-2,
    warmupEpochs: 0,
    warmupLearningRate: 0,
    // Unused by AdamW; the engine's AdamW betas are (0.9, 0.999), as CLIP-LoRA's.
    momentum: 0,
  },
  create,
  restore,
};
