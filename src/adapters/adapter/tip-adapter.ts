import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import { getLogger } from '../../runtime/logger.js';
import type { Attachment, FitExamples, ModuleBatch, ModuleContext, ModuleManifest, SourceRecord, TrainingDefaults, TuningMethod, TuningModule } from '../types.js';
import { buildCache, searchAlphaBeta, searchGrid, tipLogits, type SearchResult } from './cache.js';
import { checkFeatureWidth, checkLabels, configFromManifest, nonNegativeNumber, positiveInteger, positiveNumber, requireImageFeatures, restoreFrom, sourceRecord, takeSaved } from './shared.js';

/** Config of Tip-Adapter and Tip-Adapter-F (Zhang et al., ECCV 2022). */
export interface TipAdapterConfig {
  /** Residual ratio α, the weight of the cache logits. 1 in the paper's ablation on 16-shot ImageNet. */
  readonly alpha: number;
  /** Sharpness β of the affinities exp(−β(1 − cosine)). 5.5 in the paper's ablation on 16-shot ImageNet. */
  readonly beta: number;
  /**
   * Search α and β on the validation split that `fit` receives, as the official code does (`search_hp: True`).
   * Off by default because the training engine passes no validation split. Without one, the search is
   * skipped with a warning and α and β stay as configured. Tip-Adapter-F searches in `fit`, before its keys
   * are trained, because the engine has no step after training; the official code searches after training.
   */
  readonly search: boolean;
  /** Upper ends of the β and α grids, which start at 0.1. [7, 3] in the official ImageNet and OxfordPets configs (`search_scale`). */
  readonly searchScale: readonly [number, number];
  /** Number of β and α grid points. [200, 20] in every official config (`search_step`). */
  readonly searchSteps: readonly [number, number];
  /** The α and β of the last search, or null when no search ran. Set by `fit`; `logits` uses them in place of `alpha` and `beta`. */
  readonly searched: SearchResult | null;
}

const configCodec = t.partial({
  alpha: nonNegativeNumber,
  beta: nonNegativeNumber,
  search: t.boolean,
  searchScale: t.tuple([positiveNumber, positiveNumber]),
  searchSteps: t.tuple([positiveInteger, positiveInteger]),
});

const defaults: TipAdapterConfig = { alpha: 1, beta: 5.5, search: false, searchScale: [7, 3], searchSteps: [200, 20], searched: null };

/** Both variants only read frozen features and change neither tower: the cache is a second head beside the zero-shot classifier. */
const attachment: Attachment = {
  depth: 'output-features',
  towers: [],
  layers: { text: [], vision: [] },
  text: 'frozen-features',
  vision: 'frozen-features',
};

/**
 * A key-value cache of training image features (keys) and one-hot labels (values) added to the zero-shot
 * logits. The keys are features of the backbone the cache was fitted on: after a transplant, the target's
 * image features are compared with the source's keys, which is what a compatibility study measures.
 */
class TipAdapterModule implements TuningModule {
  readonly kind = 'adapter' as const;
  readonly attachment = attachment;
  readonly trainAfterFit: boolean;
  private settings: TipAdapterConfig;
  /** [examples, embedDim]; a trainable variable in Tip-Adapter-F. */
  private keys: tf.Tensor2D | undefined;
  /** [examples, classes] */
  private values: tf.Tensor2D | undefined;

  constructor(
    readonly method: string,
    private readonly trainableKeys: boolean,
    config: TipAdapterConfig,
    readonly classNames: readonly string[],
    readonly template: string,
    readonly source: SourceRecord,
  ) {
    this.settings = config;
    this.trainAfterFit = trainableKeys;
  }

  get config(): TipAdapterConfig {
    return this.settings;
  }

  /** Takes ownership of `keys` and `values`, replacing any cache this module holds. */
  setCache(keys: tf.Tensor2D, values: tf.Tensor2D): void {
    this.disposeCache();
    this.keys = this.trainableKeys ? (tf.variable(keys, true) as unknown as tf.Tensor2D) : keys;
    if (this.trainableKeys) keys.dispose();
    this.values = values;
  }

  parameters(): ReadonlyMap<string, tf.Variable> {
    if (!this.trainableKeys || this.keys === undefined) return new Map();
    return new Map([['cache.keys', this.keys as unknown as tf.Variable]]);
  }

  buffers(): ReadonlyMap<string, tf.Tensor> {
    const buffers = new Map<string, tf.Tensor>();
    if (!this.trainableKeys && this.keys !== undefined) buffers.set('cache.keys', this.keys);
    if (this.values !== undefined) buffers.set('cache.values', this.values);
    return buffers;
  }

  async fit(context: ModuleContext, examples: FitExamples): Promise<void> {
    const classes = this.classNames.length;
    checkLabels(this.method, examples.labels, examples.imageFeatures.shape[0], classes);
    const cache = buildCache(examples.imageFeatures, examples.labels, classes);
    this.setCache(cache.keys, cache.values);
    this.settings = { ...this.settings, searched: null };
    if (!this.settings.search) return;

    if (examples.validation === undefined) {
      getLogger().warn(`${this.method}: search is on but fit received no validation split; keeping alpha ${this.settings.alpha} and beta ${this.settings.beta}`);
      return;
    }
    checkLabels(this.method, examples.validation.labels, examples.validation.imageFeatures.shape[0], classes);
    const keysShape = `cache keys [${this.keys?.shape}]`;
    checkFeatureWidth(this.method, keysShape, examples.imageFeatures.shape[1], context.backbone, examples.validation.imageFeatures.shape[1]);
    const classifier = context.features.zeroShotClassifier(context.backbone, this.classNames, this.template);
    const [betaScale, alphaScale] = this.settings.searchScale;
    const [betaSteps, alphaSteps] = this.settings.searchSteps;
    const searched = searchAlphaBeta(
      examples.validation,
      classifier,
      { keys: this.keys as tf.Tensor2D, values: this.values as tf.Tensor2D },
      searchGrid(betaScale, betaSteps),
      searchGrid(alphaScale, alphaSteps),
    );
    this.settings = { ...this.settings, searched };
    getLogger().info(`${this.method}: chose alpha and beta on the validation split`, { ...searched });
  }

  logits(context: ModuleContext, batch: ModuleBatch): tf.Tensor2D {
    const features = requireImageFeatures(this.method, batch);
    const keys = this.keys;
    const values = this.values;
    if (keys === undefined || values === undefined) {
      throw new Error(`${this.method} has an empty cache; fit it on training features first (trainModule calls fit)`);
    }
    checkFeatureWidth(this.method, `cache keys [${keys.shape}]`, keys.shape[1], context.backbone, features.shape[1]);
    const { alpha, beta } = this.settings.searched ?? this.settings;
    return tf.tidy(() => {
      const classifier = context.features.zeroShotClassifier(context.backbone, this.classNames, this.template);
      return tipLogits(features, classifier, { keys, values }, alpha, beta);
    });
  }

  private disposeCache(): void {
    tf.dispose([this.keys, this.values].filter((x): x is tf.Tensor2D => x !== undefined));
    this.keys = undefined;
    this.values = undefined;
  }

  dispose(): void {
    this.disposeCache();
  }
}

function restoreTip(method: string, trainableKeys: boolean, manifest: ModuleManifest, tensors: Map<string, tf.Tensor>): TuningModule {
  return restoreFrom(tensors, () => {
    const config = configFromManifest(method, configCodec as unknown as t.Type<TipAdapterConfig, unknown, unknown>, defaults, manifest);
    const module = new TipAdapterModule(method, trainableKeys, config, manifest.classNames, manifest.template, manifest.source);
    // A module saved before fit has no cache tensors; it restores unfitted.
    if (!tensors.has('cache.keys') && !tensors.has('cache.values')) return module;

    const examples = tensors.get('cache.keys')?.shape[0] ?? -1;
    const { 'cache.keys': keys, 'cache.values': values } = takeSaved(method, tensors, {
      'cache.keys': [-1, manifest.source.dims.embedDim],
      'cache.values': [examples, manifest.classNames.length],
    });
    module.setCache(keys as tf.Tensor2D, values as tf.Tensor2D);
    return module;
  });
}

/** Tip-Adapter is training-free: `fit` builds the cache and no optimizer step runs, so these settings are never used. */
const trainingFree: TrainingDefaults = { optimizer: 'adamw', learningRate: 0, epochs: 0, batchSize: 256, weightDecay: 0, warmupEpochs: 0, warmupLearningRate: 0, momentum: 0 };

/** Tip-Adapter: a training-free cache of the training image features beside the zero-shot classifier. */
export const tipAdapter: TuningMethod<TipAdapterConfig> = {
  name: 'tip-adapter',
  kind: 'adapter',
  description: 'Tip-Adapter (Zhang et al., ECCV 2022): a training-free key-value cache of few-shot image features added to the zero-shot logits.',
  configCodec: configCodec as unknown as t.Type<TipAdapterConfig, unknown, unknown>,
  defaults,
  training: trainingFree,
  create: ({ backbone, classNames, config, template }) => new TipAdapterModule('tip-adapter', false, config, classNames, template, sourceRecord(backbone)),
  restore: (manifest, tensors) => restoreTip('tip-adapter', false, manifest, tensors),
};

/**
 * Tip-Adapter-F: the same cache with trainable keys. `fit` builds the cache, then the engine's optimizer loop
 * trains the keys (the module sets `trainAfterFit`).
 */
export const tipAdapterF: TuningMethod<TipAdapterConfig> = {
  name: 'tip-adapter-f',
  kind: 'adapter',
  description: 'Tip-Adapter-F (Zhang et al., ECCV 2022): Tip-Adapter with the cache keys fine-tuned by gradient descent.',
  configCodec: configCodec as unknown as t.Type<TipAdapterConfig, unknown, unknown>,
  defaults,
  // Official main.py and configs/*.yaml: AdamW with lr 0.001 (`lr`), 20 epochs (`train_epoch`), batch 256,
  // CosineAnnealingLR over every step without warmup, and torch's AdamW default weight decay 0.01.
  // NOTE: the official optimizer also sets eps = 1e-4; TrainingDefaults has no epsilon field, so the
  // engine's AdamW uses its own epsilon. The official script also keeps the epoch with the best test
  // accuracy, while the engine keeps the last epoch.
  training: { optimizer: 'adamw', learningRate: 0.001, epochs: 20, batchSize: 256, weightDecay: 0.01, warmupEpochs: 0, warmupLearningRate: 0, momentum: 0 },
  create: ({ backbone, classNames, config, template }) => new TipAdapterModule('tip-adapter-f', true, config, classNames, template, sourceRecord(backbone)),
  restore: (manifest, tensors) => restoreTip('tip-adapter-f', true, manifest, tensors),
};
