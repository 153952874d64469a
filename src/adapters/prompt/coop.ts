import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import type { Backbone } from '../../backbones/types.js';
import { cosineLogits } from '../features.js';
import type { CreateOptions, ModuleBatch, ModuleContext, ModuleManifest, SourceRecord, TrainingDefaults, TuningMethod, TuningModule } from '../types.js';
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
import { buildClassPrompts, encodeWithClassContext, encodeWithSharedContext, type ClassPrompts } from './prompts.js';
import { nonNegativeNumber, positiveInteger, restoring, savedConfig, savedVariables, sourceRecord } from './support.js';

/**
 * Config of CoOp (Zhou et al., "Learning to Prompt for Vision-Language Models", IJCV 2022). The class
 * name always follows the context ("end" class token position), as in CoOp's main results.
 */
export interface CoopConfig {
  /** Learned context tokens; 16 in CoOp's main experiments (`TRAINER.COOP.N_CTX`). Ignored when `init` gives words. */
  readonly contextTokens: number;
  /**
   * Context initialization: `"random"` draws it from normal(0, 0.02), and any other text gives the words whose
   * token embeddings start it. Their token count then replaces `contextTokens` (CoOp's `CTX_INIT`, empty by default).
   */
  readonly init: string;
  /** One context per class instead of one shared by all classes (CoOp's `CSC`, False by default). */
  readonly classSpecific: boolean;
  /**
   * Weight λ of KgCoOp's knowledge-guided term, λ · (1 − mean cosine similarity between the learned and the
   * zero-shot class text features), added to the training loss. 0 gives plain CoOp; KgCoOp uses 8.0.
   */
  readonly kgWeight: number;
}

const configCodec = t.partial({
  contextTokens: positiveInteger,
  init: t.string,
  classSpecific: t.boolean,
  kgWeight: nonNegativeNumber,
});

/** Name of the context parameter: [n, width], or [classes, n, width] with a class-specific context. */
const contextName = 'context';

/**
 * Learned context tokens in place of the hand-written words of the prompt: each class prompt is
 * start-of-text, the context, the class name, a full stop and end-of-text. The class-name embeddings come
 * from the backbone in use, so a transplanted module reads the target's token embeddings. A unified context
 * is encoded once per layer for all classes when the backbone has a shared-prefix encoder.
 */
class CoopModule implements TuningModule {
  readonly kind = 'prompt' as const;
  readonly attachment = promptAttachment;
  private readonly id: string;
  private readonly promptsByBackbone = new WeakMap<Backbone, ClassPrompts>();
  /** The knowledge-guided term of the last training-mode logits call; it belongs to that call's tensor scope. */
  private pendingAuxiliary: tf.Scalar | undefined;

  constructor(
    readonly method: string,
    readonly config: CoopConfig,
    readonly classNames: readonly string[],
    readonly template: string,
    readonly source: SourceRecord,
    /** [n, width] or [classes, n, width] */
    private readonly context: tf.Variable,
  ) {
    this.id = newModuleId(method);
  }

  private get contextTokens(): number {
    return this.context.shape[this.context.rank - 2] as number;
  }

  parameters(): ReadonlyMap<string, tf.Variable> {
    return new Map([[contextName, this.context]]);
  }

  buffers(): ReadonlyMap<string, tf.Tensor> {
    return new Map();
  }

  private prompts(backbone: Backbone): ClassPrompts {
    let prompts = this.promptsByBackbone.get(backbone);
    if (prompts === undefined) {
      prompts = buildClassPrompts(this.method, backbone, this.classNames, this.contextTokens);
      this.promptsByBackbone.set(backbone, prompts);
    }
    return prompts;
  }

  /** Unnormalized class text features [classes, embedDim] on the backbone in use. */
  textFeatures(backbone: Backbone): tf.Tensor2D {
    checkTextWidth(this.method, `context tokens [${this.context.shape}]`, this.context.shape[this.context.rank - 1] as number, backbone);
    const prompts = this.prompts(backbone);
    return tf.tidy(() => {
      if (this.context.rank === 3) return encodeWithClassContext(backbone, prompts, this.context as tf.Tensor3D);
      return encodeWithSharedContext(backbone, prompts, tf.expandDims(this.context, 0) as tf.Tensor3D);
    });
  }

  logits(context: ModuleContext, batch: ModuleBatch): tf.Tensor2D {
    const { logits, auxiliary } = tf.tidy(() => {
      const text = classTextFeatures(context, this.id, this.parameters(), () => this.textFeatures(context.backbone));
      const logits = cosineLogits(imageFeaturesOf(this.method, context, batch), text, context.backbone.logitScale);
      if (!context.training || this.config.kgWeight === 0) return { logits, auxiliary: undefined };
      const zeroShot = context.features.zeroShotClassifier(context.backbone, this.classNames, this.template);
      return { logits, auxiliary: tf.mul(knowledgeGuidedLoss(text, zeroShot), this.config.kgWeight) as tf.Scalar };
    });
    this.pendingAuxiliary = auxiliary;
    return logits;
  }

  /**
   * Returns the weighted knowledge-guided term (`kgWeight` > 0 only). It reuses the class text features of
   * the preceding training-mode `logits` call, so the prompts are encoded once per step.
   */
  auxiliaryLoss(context: ModuleContext): tf.Scalar | undefined {
    if (this.config.kgWeight === 0) return undefined;
    const pending = this.pendingAuxiliary;
    this.pendingAuxiliary = undefined;
    if (pending !== undefined && !pending.isDisposed) return pending;
    return tf.tidy(() => {
      const zeroShot = context.features.zeroShotClassifier(context.backbone, this.classNames, this.template);
      return tf.mul(knowledgeGuidedLoss(this.textFeatures(context.backbone), zeroShot), this.config.kgWeight) as tf.Scalar;
    });
  }

  dispose(): void {
    this.context.dispose();
  }
}

function createCoop(method: string, options: CreateOptions<CoopConfig>): TuningModule {
  const { backbone, classNames, config, random, template } = options;
  const tokens = contextTokenCount(method, backbone, config.init, config.contextTokens);
  // Fails early, naming the context length, when the context leaves no room for class names.
  buildClassPrompts(method, backbone, classNames, tokens);
  const initial = initialContext(method, backbone, config.init, tokens, random.fork(contextName), config.classSpecific ? classNames.length : undefined);
  const context = tf.variable(initial, true);
  initial.dispose();
  return new CoopModule(method, config, classNames, template, sourceRecord(backbone), context);
}

function restoreCoop(method: TuningMethod<CoopConfig>, manifest: ModuleManifest, tensors: Map<string, tf.Tensor>): TuningModule {
  return restoring(tensors, () => {
    const config = savedConfig(method, manifest);
    const width = manifest.source.dims.textWidth;
    const shape = config.classSpecific ? [manifest.classNames.length, -1, width] : [-1, width];
    const { context } = savedVariables(method.name, tensors, { [contextName]: shape });
    return new CoopModule(method.name, config, manifest.classNames, manifest.template, manifest.source, context);
  });
}

/**
 * CoOp's training settings for ViT-B/16 with 16 shots: `configs/trainers/CoOp/vit_b16.yaml` (SGD, lr 0.002,
 * batch 32, 200 epochs, cosine schedule, 1 warmup epoch at a constant 1e-5) plus Dassl's defaults
 * (momentum 0.9, weight decay 5e-4).
 */
const coopTraining: TrainingDefaults = {
  optimizer: 'sgd',
  learningRate: 0.002,
  epochs: 200,
  batchSize: 32,
  weightDecay: 5e-4,
  warmupEpochs: 1,
  warmupLearningRate: 1e-5,
  momentum: 0.9,
};

/**
 * CoOp: context optimization. Defaults are CoOp's `train.py` defaults (16 context tokens, random init,
 * unified context); set `kgWeight` to add KgCoOp's regularizer, or use the `kgcoop` method.
 */
export const coop: TuningMethod<CoopConfig> = {
  name: 'coop',
  kind: 'prompt',
  description: 'CoOp (Zhou et al., IJCV 2022): learned context tokens in place of the prompt words, trained through the frozen text tower.',
  configCodec: configCodec as unknown as t.Type<CoopConfig, unknown, unknown>,
  defaults: { contextTokens: 16, init: 'random', classSpecific: false, kgWeight: 0 },
  training: coopTraining,
  create: (options) => createCoop('coop', options),
  restore: (manifest, tensors) => restoreCoop(coop, manifest, tensors),
};

/**
 * KgCoOp (Yao et al., "Visual-Language Prompt Tuning with Knowledge-guided Context Optimization", CVPR 2023):
 * CoOp whose loss adds λ · (1 − mean cosine similarity) between the learned class text features and the
 * zero-shot ones of the same backbone. The same module as `coop`, with KgCoOp's defaults: context from
 * "a photo of a" (the official code hard-codes these words when CTX_INIT is set), λ = 8.0
 * (`scripts/base2new_train.sh`, WEIGHT=8.0), and the training settings of
 * `configs/trainers/KgCoOp/vit_b16_ep100_ctxv1.yaml` (SGD, lr 0.002, batch 128, 100 epochs, cosine, 1 warmup
 * epoch at a constant 1e-5) plus Dassl's momentum 0.9 and weight decay 5e-4.
 */
export const kgcoop: TuningMethod<CoopConfig> = {
  name: 'kgcoop',
  kind: 'prompt',
  description: 'KgCoOp (Yao et al., CVPR 2023): CoOp with a loss term that keeps the learned class text features near the zero-shot ones.',
  configCodec: configCodec as unknown as t.Type<CoopConfig, unknown, unknown>,
  defaults: { contextTokens: 4, init: 'a photo of a', classSpecific: false, kgWeight: 8 },
  training: { ...coopTraining, batchSize: 128, epochs: 100 },
  create: (options) => createCoop('kgcoop', options),
  restore: (manifest, tensors) => restoreCoop(kgcoop, manifest, tensors),
};
