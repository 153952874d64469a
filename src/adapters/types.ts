import type * as tf from '@tensorflow/tfjs-core';
import type * as t from 'io-ts';
import type { Backbone, BackboneDimensions, BackboneIdentity, Tower } from '../backbones/types.js';
import type { Random } from '../runtime/random.js';
import type { FeatureCache } from './features.js';

/** The family a tuning module belongs to. */
export type ModuleKind = 'prompt' | 'adapter' | 'lora' | 'deep' | 'probe';

/**
 * The place where a module touches the backbone, from shallow to deep: the text input tokens, the image input
 * tokens, every layer of one or both towers, or the output features. Ordered for charts by {@link depthOrder}.
 */
export type AttachmentDepth = 'text-input' | 'vision-input' | 'text-layers' | 'vision-layers' | 'both-layers' | 'output-features';

/** Attachment depths from shallow to deep, as drawn on the retention-against-depth chart. */
export const depthOrder: readonly AttachmentDepth[] = ['text-input', 'vision-input', 'text-layers', 'vision-layers', 'both-layers', 'output-features'];

/**
 * A module's need from a tower during training: nothing, its frozen output features (which the
 * engine computes once and caches), or backpropagation through the tower.
 */
export type TowerNeed = 'none' | 'frozen-features' | 'backprop';

/** The attachment of a module: where it touches the backbone and its needs from each tower. */
export interface Attachment {
  /** Attachment depth, from the text input to the output features. */
  readonly depth: AttachmentDepth;
  /** Towers the module changes. */
  readonly towers: readonly Tower[];
  /** Layers the module changes in each tower (0-based); empty when it changes none. */
  readonly layers: {
    /** Text tower layers. */
    readonly text: readonly number[];
    /** Vision tower layers. */
    readonly vision: readonly number[];
  };
  /** The text tower's part in training: none, frozen features or backpropagation. */
  readonly text: TowerNeed;
  /** The vision tower's part in training: none, frozen features or backpropagation. */
  readonly vision: TowerNeed;
}

/** A batch of examples in the form a module receives it. */
export interface ModuleBatch {
  /** Preprocessed images [batch, size, size, 3]; present when the module backpropagates through the vision tower. */
  readonly images?: tf.Tensor4D;
  /** Frozen image features [batch, embedDim] of the backbone in use; present when the module's vision need is `frozen-features`. */
  readonly imageFeatures?: tf.Tensor2D;
}

/** The context of every module call: the backbone it runs on, a cache of frozen features and the mode. */
export interface ModuleContext {
  /** The backbone the module runs on: the source while training, a target after a transplant. */
  readonly backbone: Backbone;
  /** Cache of frozen features and zero-shot classifiers, shared across calls. */
  readonly features: FeatureCache;
  /** True while training: enables dropout and other training-only behaviour. */
  readonly training: boolean;
  /** Seeded randomness for dropout; required while training. */
  readonly random?: Random;
}

/** The backbone a module was trained on, recorded in its manifest. */
export interface SourceRecord {
  /** Name, revision and weights hash of the source backbone. */
  readonly identity: BackboneIdentity;
  /** Sizes of the source backbone, compared with the target's at preflight. */
  readonly dims: BackboneDimensions;
  /** The tokenizer's layout, file hash and layout-independent fingerprint. */
  readonly tokenizer: {
    /** Tokenizer file layout, such as `tokenizer.json`. */
    readonly kind: string;
    /** SHA-256 of the tokenizer files. */
    readonly sha256: string;
    /** SHA-256 of the vocabulary and merges, the same for every file layout. */
    readonly fingerprint?: string;
  };
}

/**
 * A trained or trainable tuning module. A module owns its parameters (trainable variables) and buffers
 * (saved, not trained); it never owns or modifies backbone weights.
 */
export interface TuningModule {
  /** Registry name of the method, such as `coop` or `clip-adapter`. */
  readonly method: string;
  /** The method family. */
  readonly kind: ModuleKind;
  /** Attachment depth, towers and layers, and what training needs from each tower. */
  readonly attachment: Attachment;
  /** The method's decoded config. */
  readonly config: unknown;
  /** Class names, in label order. */
  readonly classNames: readonly string[];
  /** Prompt template of the zero-shot classifier the module starts from, such as "a photo of a {}.". */
  readonly template: string;
  /** The backbone the module was created on. */
  readonly source: SourceRecord;
  /** Trainable parameters by name. */
  parameters(): ReadonlyMap<string, tf.Variable>;
  /** Saved but untrained state by name (a cache, a reference classifier). */
  buffers(): ReadonlyMap<string, tf.Tensor>;
  /** Class logits [batch, classes] on `context.backbone`, which may be the source or a target backbone. */
  logits(context: ModuleContext, batch: ModuleBatch): tf.Tensor2D;
  /** An extra loss term added to cross-entropy during training (a distillation or regularization term). */
  auxiliaryLoss?(context: ModuleContext, batch: ModuleBatch, logits: tf.Tensor2D): tf.Scalar | undefined;
  /**
   * Fits the module without gradient steps (a training-free cache, a closed-form probe). When present,
   * the training engine calls it instead of running its optimizer loop.
   */
  fit?(context: ModuleContext, examples: FitExamples): Promise<void>;
  /** When true, the engine runs its optimizer loop after `fit` (Tip-Adapter-F builds its cache, then trains its keys). */
  readonly trainAfterFit?: boolean;
  /** Frees the module's parameters and buffers. */
  dispose(): void;
}

/** Labelled training examples for {@link TuningModule.fit}: frozen image features and labels. */
export interface FitExamples {
  /** Frozen image features [examples, embedDim]. */
  readonly imageFeatures: tf.Tensor2D;
  /** Class index of each example. */
  readonly labels: Int32Array;
  /** Validation split for choosing hyperparameters, when the method needs one. */
  readonly validation?: {
    /** Frozen image features [examples, embedDim]. */
    readonly imageFeatures: tf.Tensor2D;
    /** Class index of each example. */
    readonly labels: Int32Array;
  };
}

/** Default training settings of a method, from its paper and official code. All are overridable. */
export interface TrainingDefaults {
  /** `sgd` (with momentum and coupled L2 weight decay) or `adamw` (decoupled weight decay). */
  readonly optimizer: 'sgd' | 'adamw';
  /** Learning rate after warmup; a cosine schedule decays it to 0 over the run. */
  readonly learningRate: number;
  /** Passes over the few-shot training set. */
  readonly epochs: number;
  /** Examples per optimizer step. */
  readonly batchSize: number;
  /** Weight decay factor. */
  readonly weightDecay: number;
  /** Warmup epochs at a constant learning rate before the cosine schedule, as CoOp's Dassl config does. */
  readonly warmupEpochs: number;
  /** Constant learning rate during warmup. */
  readonly warmupLearningRate: number;
  /** SGD momentum. */
  readonly momentum: number;
}

/** The options of a method's `create`. */
export interface CreateOptions<C> {
  /** The backbone the module is created on. */
  readonly backbone: Backbone;
  /** Class names, in label order. */
  readonly classNames: readonly string[];
  /** The method's config, completed with its defaults. */
  readonly config: C;
  /** Seeded randomness for initialization. */
  readonly random: Random;
  /** Prompt template for zero-shot text features, such as "a photo of a {}.". */
  readonly template: string;
}

/**
 * A tuning method: its name, kind, config codec with defaults, training defaults, and how to create a
 * fresh module or restore a saved one. One file per method implements this.
 */
export interface TuningMethod<C = unknown> {
  /** Registry name, such as `coop`. */
  readonly name: string;
  /** The method family. */
  readonly kind: ModuleKind;
  /** One line on what the method is and where it comes from. */
  readonly description: string;
  /** Decodes a partial user config; fields left out take the defaults. */
  readonly configCodec: t.Type<C, unknown, unknown>;
  /** Config values used for fields the user leaves out. */
  readonly defaults: C;
  /** Default training settings. */
  readonly training: TrainingDefaults;
  /** Creates a fresh, untrained module on `options.backbone`. */
  create(options: CreateOptions<C>): TuningModule;
  /** Rebuilds a module from its manifest and saved tensors; takes ownership of `tensors`. */
  restore(manifest: ModuleManifest, tensors: Map<string, tf.Tensor>): TuningModule;
}

/** The JSON manifest saved beside a module's tensors. */
export interface ModuleManifest {
  /** Always `vlm-compat-module`. */
  readonly format: 'vlm-compat-module';
  /** Manifest format version. */
  readonly formatVersion: 1;
  /** Registry name of the method. */
  readonly method: string;
  /** The method family. */
  readonly kind: ModuleKind;
  /** The method's config as trained. */
  readonly config: unknown;
  /** Class names, in label order. */
  readonly classNames: readonly string[];
  /** Prompt template of the zero-shot classifier the module starts from. */
  readonly template: string;
  /** The backbone the module was trained on. */
  readonly source: SourceRecord;
  /** Names of trainable parameters and of buffers, with shapes. */
  readonly tensors: ReadonlyArray<{
    /** Tensor name in module.safetensors. */
    readonly name: string;
    /** Tensor shape. */
    readonly shape: readonly number[];
    /** `parameter` for a trained variable, `buffer` for saved, untrained state. */
    readonly role: 'parameter' | 'buffer';
  }>;
  /** Element type of the saved tensors. */
  readonly dtype: 'F32';
  /** vlm-compat version that saved the module. */
  readonly libraryVersion: string;
  /** The origin of the module: `trained`, or a migration record. */
  readonly provenance?: Record<string, unknown>;
}
