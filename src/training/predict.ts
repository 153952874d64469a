import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../backbones/types.js';
import { cosineLogits, type FeatureCache } from '../adapters/features.js';
import type { ModuleContext, TuningModule } from '../adapters/types.js';
import { encodeImages } from './train.js';
import type { ImageSource } from './types.js';

/** Predictions of one condition on a data set. */
export interface Predictions {
  /** Predicted class per example. */
  readonly predictions: Int32Array;
  /** Logits [examples, classes], row-major. */
  readonly logits: Float32Array;
  /** Number of classes, the row width of `logits`. */
  readonly classes: number;
}

/** Options of {@link predict}. */
export interface PredictOptions {
  /** Zero-shot only: class names and template of the hand-written prompts. */
  readonly classNames?: readonly string[];
  /** Template of the hand-written prompts, such as "a photo of a {}.". */
  readonly template?: string;
  /** Examples per forward pass. Default 64. */
  readonly batchSize?: number;
}

/** Frozen image features of a whole source, cached per backbone when the source has an id. */
async function frozenImageFeatures(backbone: Backbone, features: FeatureCache, data: ImageSource): Promise<tf.Tensor2D> {
  const all = Array.from({ length: data.size }, (_, i) => i);
  if (data.id === undefined) return encodeImages(backbone, data, all);
  const key = `images:${data.id}`;
  const found = features.cached(backbone, key);
  if (found !== undefined) return found;
  const computed = await encodeImages(backbone, data, all);
  // Another prediction on the same cache may have stored these features while this one encoded them.
  const stored = features.remember(backbone, key, () => computed);
  if (stored !== computed) computed.dispose();
  return stored;
}

/**
 * Predicts every example of `data` with a module on `backbone`, or with the backbone's zero-shot
 * classifier when `module` is undefined. Neither changes any state.
 */
export async function predict(
  module: TuningModule | undefined,
  backbone: Backbone,
  features: FeatureCache,
  data: ImageSource,
  options: PredictOptions = {},
): Promise<Predictions> {
  const classNames = module?.classNames ?? options.classNames;
  const template = module?.template ?? options.template;
  if (classNames === undefined || template === undefined) throw new Error('predict without a module needs classNames and template for the zero-shot classifier');
  const classes = classNames.length;
  const batchSize = options.batchSize ?? 64;
  const context: ModuleContext = { backbone, features, training: false };
  const needsPixels = module !== undefined && module.attachment.vision === 'backprop';

  // Image features that no module can change are computed once, and reused across modules via the cache.
  const cachedFeatures = needsPixels ? undefined : await frozenImageFeatures(backbone, features, data);
  const logits = new Float32Array(data.size * classes);
  for (let start = 0; start < data.size; start += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, data.size - start) }, (_, i) => start + i);
    const pixels = needsPixels ? await data.images(indices, backbone.dims.imageSize) : undefined;
    const batchLogits = tf.tidy(() => {
      const imageFeatures = cachedFeatures === undefined ? undefined : (tf.slice(cachedFeatures, [start, 0], [indices.length, -1]) as tf.Tensor2D);
      if (module === undefined) return cosineLogits(imageFeatures as tf.Tensor2D, features.zeroShotClassifier(backbone, classNames, template), backbone.logitScale);
      return module.logits(context, pixels === undefined ? { imageFeatures: imageFeatures as tf.Tensor2D } : { images: pixels });
    });
    logits.set(await batchLogits.data(), start * classes);
    batchLogits.dispose();
    pixels?.dispose();
  }
  if (cachedFeatures !== undefined && data.id === undefined) cachedFeatures.dispose();

  const predictions = new Int32Array(data.size);
  for (let i = 0; i < data.size; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if ((logits[i * classes + c] as number) > (logits[i * classes + best] as number)) best = c;
    predictions[i] = best;
  }
  return { predictions, logits, classes };
}

/** Share of examples whose prediction equals the label. */
export function accuracy(predictions: Int32Array, labels: Int32Array): number {
  if (predictions.length !== labels.length) throw new Error(`accuracy: ${predictions.length} predictions for ${labels.length} labels`);
  if (labels.length === 0) return Number.NaN;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
  return correct / labels.length;
}
