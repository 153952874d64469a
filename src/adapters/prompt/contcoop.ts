import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import type { Backbone } from '../../backbones/types.js';
import { matMul } from '../../runtime/matmul.js';
import { cosineLogits } from '../features.js';
import type { ModuleBatch, ModuleContext, ModuleManifest, SourceRecord, TuningMethod, TuningModule } from '../types.js';
import {
  checkTextWidth,
  classTextFeatures,
  contextTokenCount,
  imageFeaturesOf,
  initialContext,
  knowledgeGuidedLoss,
  newModuleId,
  promptAttachment,
} from './common.js';
import { buildClassPrompts, embedPrompts, encodeWithClassContext, type ClassPrompts } from './prompts.js';
import { nonNegativeInteger, nonNegativeNumber, positiveInteger, restoring, savedConfig, savedVariables, sourceRecord, toVariables, xavierUniform } from './support.js';

const name = 'contcoop';

/**
 * Config of ContCoOp (Wang et al., "Towards Compatible Fine-tuning for Vision-Language Model Updates",
 * arXiv 2412.20895).
 */
export interface ContcoopConfig {
  /** Learned context tokens; ignored when `init` gives words. */
  readonly contextTokens: number;
  /** `"random"` (normal, std 0.02) or the words whose token embeddings start the context. Default "a photo of a", as KgCoOp. */
  readonly init: string;
  /** Attention heads of the class-conditioning layer; must divide `attentionWidth`. Default 1. */
  readonly heads: number;
  /** Width of the attention's queries, keys and values; 0 means the text width. Default 0. */
  readonly attentionWidth: number;
  /** Weight λ of the distillation term toward the zero-shot text features; 8.0, borrowed from KgCoOp. */
  readonly distillationWeight: number;
}

const configCodec = t.partial({
  contextTokens: positiveInteger,
  init: t.string,
  heads: positiveInteger,
  attentionWidth: nonNegativeInteger,
  distillationWeight: nonNegativeNumber,
});

/** Saved name of each parameter. Projection weights are stored input-major: [in, out]. */
const savedNames = {
  context: 'context',
  query: 'attention.query.weight',
  key: 'attention.key.weight',
  value: 'attention.value.weight',
  output: 'attention.output.weight',
  outputBias: 'attention.output.bias',
} as const;

type Field = keyof typeof savedNames;

/**
 * The parameters: context [n, textWidth]; query, key and value [textWidth, attentionWidth]; output
 * [attentionWidth, textWidth] and outputBias [textWidth], both zero at creation.
 */
type ContcoopParameters = Readonly<Record<Field, tf.Variable>>;

/**
 * Class-conditioned context. For each class, the learned context tokens attend over the class name: queries
 * come from the context, keys and values from the class name's token embeddings on the backbone in use. The
 * attention output, through an output projection, is added to the context, and the prompts are built as in
 * CoOp with this per-class context. Training adds λ · (1 − mean cosine similarity) between the learned class
 * text features and the zero-shot ones of the same backbone.
 *
 * NOTE: the authors' code was not available when this was written, so the layer follows the paper's
 * description and these choices are ours: single-head attention by default over the class-name tokens only
 * (no full stop, no EOT), no layer norm, Xavier-uniform query/key/value weights, and a zero-initialized
 * output projection so that a new module computes exactly what CoOp computes with the same context. The
 * distillation term is KgCoOp's form and weight (8.0); the paper's exact loss and weight may differ.
 */
class ContcoopModule implements TuningModule {
  readonly method = name;
  readonly kind = 'prompt' as const;
  readonly attachment = promptAttachment;
  private readonly id = newModuleId(name);
  private readonly promptsByBackbone = new WeakMap<Backbone, ClassPrompts>();
  /** The distillation term of the last training-mode logits call; it belongs to that call's tensor scope. */
  private pendingAuxiliary: tf.Scalar | undefined;

  constructor(
    readonly config: ContcoopConfig,
    readonly classNames: readonly string[],
    readonly template: string,
    readonly source: SourceRecord,
    private readonly weights: ContcoopParameters,
  ) {}

  parameters(): ReadonlyMap<string, tf.Variable> {
    return new Map((Object.keys(savedNames) as Field[]).map((field) => [savedNames[field], this.weights[field]]));
  }

  buffers(): ReadonlyMap<string, tf.Tensor> {
    return new Map();
  }

  private prompts(backbone: Backbone): ClassPrompts {
    let prompts = this.promptsByBackbone.get(backbone);
    if (prompts === undefined) {
      prompts = buildClassPrompts(name, backbone, this.classNames, this.weights.context.shape[0] as number);
      this.promptsByBackbone.set(backbone, prompts);
    }
    return prompts;
  }

  /** Computes the context of every class [classes, n, textWidth]: the learned context plus its attention over the class name. */
  classContext(backbone: Backbone): tf.Tensor3D {
    const w = this.weights;
    checkTextWidth(name, `context tokens [${w.context.shape}]`, w.context.shape[1] as number, backbone);
    const prompts = this.prompts(backbone);
    const { heads } = this.config;
    const [contextTokens, width] = w.context.shape as [number, number];
    const attentionWidth = w.query.shape[1] as number;
    const headWidth = attentionWidth / heads;
    const classes = prompts.classes;
    const nameTokens = Math.max(...prompts.nameLengths);

    return tf.tidy(() => {
      // Class-name token embeddings [classes, nameTokens, width], from right after the context.
      const names = tf.slice(embedPrompts(backbone, prompts), [0, 1 + contextTokens, 0], [classes, nameTokens, width]);
      const keys = tf.reshape(matMul(tf.reshape(names, [-1, width]) as tf.Tensor2D, w.key as tf.Tensor2D), [classes, nameTokens, heads, headWidth]);
      const values = tf.reshape(matMul(tf.reshape(names, [-1, width]) as tf.Tensor2D, w.value as tf.Tensor2D), [classes, nameTokens, heads, headWidth]);
      const queries = tf.reshape(matMul(w.context as tf.Tensor2D, w.query as tf.Tensor2D), [contextTokens, heads, headWidth]);

      // Scores [heads, n, classes, nameTokens]: every head's queries against every class's name keys in one product.
      const queriesByHead = tf.mul(tf.transpose(queries, [1, 0, 2]), 1 / Math.sqrt(headWidth)) as tf.Tensor3D;
      const keysByHead = tf.reshape(tf.transpose(keys, [2, 3, 0, 1]), [heads, headWidth, classes * nameTokens]) as tf.Tensor3D;
      const scores = tf.reshape(matMul(queriesByHead, keysByHead), [heads, contextTokens, classes, nameTokens]);

      // Padding after shorter class names gets no attention.
      const padding = new Float32Array(classes * nameTokens);
      prompts.nameLengths.forEach((length, c) => padding.fill(-1e9, c * nameTokens + length, (c + 1) * nameTokens));
      const attention = tf.softmax(tf.add(scores, tf.tensor2d(padding, [classes, nameTokens])));

      // attention [heads, n, classes, nameTokens] · values → [classes, n, attentionWidth]
      const weightsByClass = tf.reshape(tf.transpose(attention, [0, 2, 1, 3]), [heads * classes, contextTokens, nameTokens]) as tf.Tensor3D;
      const valuesByClass = tf.reshape(tf.transpose(values, [2, 0, 1, 3]), [heads * classes, nameTokens, headWidth]) as tf.Tensor3D;
      const attended = tf.reshape(matMul(weightsByClass, valuesByClass), [heads, classes, contextTokens, headWidth]);
      const merged = tf.reshape(tf.transpose(attended, [1, 2, 0, 3]), [classes * contextTokens, attentionWidth]) as tf.Tensor2D;

      const delta = tf.reshape(tf.add(matMul(merged, w.output as tf.Tensor2D), w.outputBias), [classes, contextTokens, width]);
      return tf.add(tf.expandDims(w.context, 0), delta) as tf.Tensor3D;
    });
  }

  /** Unnormalized class text features [classes, embedDim] on the backbone in use. */
  textFeatures(backbone: Backbone): tf.Tensor2D {
    return tf.tidy(() => encodeWithClassContext(backbone, this.prompts(backbone), this.classContext(backbone)));
  }

  logits(context: ModuleContext, batch: ModuleBatch): tf.Tensor2D {
    const { logits, auxiliary } = tf.tidy(() => {
      const text = classTextFeatures(context, this.id, this.parameters(), () => this.textFeatures(context.backbone));
      const logits = cosineLogits(imageFeaturesOf(name, context, batch), text, context.backbone.logitScale);
      if (!context.training || this.config.distillationWeight === 0) return { logits, auxiliary: undefined };
      const zeroShot = context.features.zeroShotClassifier(context.backbone, this.classNames, this.template);
      return { logits, auxiliary: tf.mul(knowledgeGuidedLoss(text, zeroShot), this.config.distillationWeight) as tf.Scalar };
    });
    this.pendingAuxiliary = auxiliary;
    return logits;
  }

  /** Returns the weighted distillation term, reusing the class text features of the preceding training-mode `logits` call. */
  auxiliaryLoss(context: ModuleContext): tf.Scalar | undefined {
    if (this.config.distillationWeight === 0) return undefined;
    const pending = this.pendingAuxiliary;
    this.pendingAuxiliary = undefined;
    if (pending !== undefined && !pending.isDisposed) return pending;
    return tf.tidy(() => {
      const zeroShot = context.features.zeroShotClassifier(context.backbone, this.classNames, this.template);
      return tf.mul(knowledgeGuidedLoss(this.textFeatures(context.backbone), zeroShot), this.config.distillationWeight) as tf.Scalar;
    });
  }

  dispose(): void {
    tf.dispose(Object.values(this.weights));
  }
}

function resolvedAttentionWidth(config: ContcoopConfig, textWidth: number): number {
  const width = config.attentionWidth === 0 ? textWidth : config.attentionWidth;
  if (width % config.heads !== 0) {
    throw new Error(`${name}: ${config.heads} attention heads do not divide the attention width ${width}; choose heads that divide it`);
  }
  return width;
}

/**
 * ContCoOp. The authors' code was not public, so its defaults are borrowed from KgCoOp: 4 context tokens from
 * "a photo of a", the distillation weight 8.0, and the training settings of
 * `configs/trainers/KgCoOp/vit_b16_ep100_ctxv1.yaml` (SGD, lr 0.002, batch 128, 100 epochs, cosine, 1 warmup
 * epoch at a constant 1e-5) with Dassl's momentum 0.9 and weight decay 5e-4.
 */
export const contcoop: TuningMethod<ContcoopConfig> = {
  name,
  kind: 'prompt',
  description:
    'ContCoOp (Wang et al., arXiv 2412.20895): CoOp context conditioned on each class name by an attention layer, with distillation toward the zero-shot text features.',
  configCodec: configCodec as unknown as t.Type<ContcoopConfig, unknown, unknown>,
  defaults: { contextTokens: 4, init: 'a photo of a', heads: 1, attentionWidth: 0, distillationWeight: 8 },
  training: { optimizer: 'sgd', learningRate: 0.002, epochs: 100, batchSize: 128, weightDecay: 5e-4, warmupEpochs: 1, warmupLearningRate: 1e-5, momentum: 0.9 },

  create({ backbone, classNames, config, random, template }) {
    const width = backbone.dims.textWidth;
    const attentionWidth = resolvedAttentionWidth(config, width);
    const tokens = contextTokenCount(name, backbone, config.init, config.contextTokens);
    buildClassPrompts(name, backbone, classNames, tokens);
    const weights = toVariables({
      context: initialContext(name, backbone, config.init, tokens, random.fork(savedNames.context)),
      query: xavierUniform(width, attentionWidth, random.fork(savedNames.query)),
      key: xavierUniform(width, attentionWidth, random.fork(savedNames.key)),
      value: xavierUniform(width, attentionWidth, random.fork(savedNames.value)),
      output: tf.zeros([attentionWidth, width]),
      outputBias: tf.zeros([width]),
    });
    return new ContcoopModule(config, classNames, template, sourceRecord(backbone), weights);
  },

  restore(manifest: ModuleManifest, tensors: Map<string, tf.Tensor>) {
    return restoring(tensors, () => {
      const config = savedConfig(contcoop, manifest);
      const width = manifest.source.dims.textWidth;
      const attentionWidth = resolvedAttentionWidth(config, width);
      const saved = savedVariables(name, tensors, {
        [savedNames.context]: [-1, width],
        [savedNames.query]: [width, attentionWidth],
        [savedNames.key]: [width, attentionWidth],
        [savedNames.value]: [width, attentionWidth],
        [savedNames.output]: [attentionWidth, width],
        [savedNames.outputBias]: [width],
      });
      const weights = Object.fromEntries((Object.keys(savedNames) as Field[]).map((field) => [field, saved[savedNames[field]]])) as Record<Field, tf.Variable>;
      return new ContcoopModule(config, manifest.classNames, manifest.template, manifest.source, weights);
    });
  },
};
