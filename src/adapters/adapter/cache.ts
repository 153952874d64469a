import * as tf from '@tensorflow/tfjs-core';
import { matMul } from '../../runtime/matmul.js';
import { l2Normalize } from '../features.js';

/**
 * Scale of the zero-shot term in Tip-Adapter's logits. The official code writes `100. * features @ clip_weights`
 * rather than using the backbone's learned scale, and its α and β are tuned against that 100.
 */
export const zeroShotScale = 100;

/** A Tip-Adapter cache: L2-normalized training image features and their one-hot labels. */
export interface TipCache {
  /** [examples, embedDim] */
  readonly keys: tf.Tensor2D;
  /** [examples, classes] */
  readonly values: tf.Tensor2D;
}

/** Builds the cache from training image features [examples, embedDim] and labels. */
export function buildCache(imageFeatures: tf.Tensor2D, labels: Int32Array, classes: number): TipCache {
  return tf.tidy(() => ({
    keys: l2Normalize(imageFeatures),
    values: tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), 'float32') as tf.Tensor2D,
  }));
}

/** The cache's terms of Tip-Adapter's logits for image features [batch, embedDim], all [batch, ·]. */
export interface TipTerms {
  /** 100 · cosine with the zero-shot classifier, [batch, classes]. */
  readonly zeroShot: tf.Tensor2D;
  /** Cosine of each normalized image feature with each cache key, [batch, examples]. */
  readonly affinity: tf.Tensor2D;
}

/** Computes the zero-shot term and the affinities with the keys. Keys are used as given (Tip-Adapter-F trains them without renormalizing). */
export function tipTerms(imageFeatures: tf.Tensor2D, classifier: tf.Tensor2D, keys: tf.Tensor2D): TipTerms {
  return tf.tidy(() => {
    const query = l2Normalize(imageFeatures);
    return {
      zeroShot: tf.mul(tf.matMul(query, classifier, false, true), zeroShotScale) as tf.Tensor2D,
      affinity: matMul(query, tf.transpose(keys)),
    };
  });
}

/** Computes the cache logits exp(−β(1 − affinity)) · values, [batch, classes]. */
export function cacheLogits(affinity: tf.Tensor2D, values: tf.Tensor2D, beta: number): tf.Tensor2D {
  return tf.tidy(() => matMul(tf.exp(tf.mul(tf.sub(affinity, 1), beta)) as tf.Tensor2D, values));
}

/**
 * Tip-Adapter's logits: 100 · f·Wᵀ + α · exp(−β(1 − f·Kᵀ)) · V with f the L2-normalized image features,
 * W the zero-shot classifier, K the cache keys and V the one-hot cache values.
 */
export function tipLogits(imageFeatures: tf.Tensor2D, classifier: tf.Tensor2D, cache: TipCache, alpha: number, beta: number): tf.Tensor2D {
  return tf.tidy(() => {
    const { zeroShot, affinity } = tipTerms(imageFeatures, classifier, cache.keys);
    return tf.add(zeroShot, tf.mul(cacheLogits(affinity, cache.values, beta), alpha)) as tf.Tensor2D;
  });
}

/** Grid of the official search: `steps` values from 0.1 upward by (scale − 0.1) / steps. */
export function searchGrid(scale: number, steps: number): number[] {
  return Array.from({ length: steps }, (_, i) => (i * (scale - 0.1)) / steps + 0.1);
}

/** The α and β chosen on validation data, with the validation accuracy they reached. */
export interface SearchResult {
  readonly alpha: number;
  readonly beta: number;
  readonly validationAccuracy: number;
}

function argmaxAccuracy(zeroShot: Float32Array, cache: Float32Array, alpha: number, labels: Int32Array, classes: number): number {
  let correct = 0;
  for (let row = 0; row < labels.length; row++) {
    let best = 0;
    let bestValue = -Infinity;
    for (let c = 0; c < classes; c++) {
      const value = (zeroShot[row * classes + c] as number) + alpha * (cache[row * classes + c] as number);
      if (value > bestValue) {
        bestValue = value;
        best = c;
      }
    }
    if (best === labels[row]) correct++;
  }
  return correct / labels.length;
}

/**
 * Searches β (outer loop) and α (inner loop) on a grid for the best validation accuracy, as the official
 * `search_hp` does: the first setting that reaches the maximum wins.
 */
export function searchAlphaBeta(
  validation: { readonly imageFeatures: tf.Tensor2D; readonly labels: Int32Array },
  classifier: tf.Tensor2D,
  cache: TipCache,
  betas: readonly number[],
  alphas: readonly number[],
): SearchResult {
  const classes = classifier.shape[0];
  const terms = tipTerms(validation.imageFeatures, classifier, cache.keys);
  const zeroShot = terms.zeroShot.dataSync() as Float32Array;
  let best: SearchResult = { alpha: alphas[0] ?? 0, beta: betas[0] ?? 0, validationAccuracy: -1 };
  try {
    for (const beta of betas) {
      const logits = cacheLogits(terms.affinity, cache.values, beta);
      const cached = logits.dataSync() as Float32Array;
      logits.dispose();
      for (const alpha of alphas) {
        const accuracy = argmaxAccuracy(zeroShot, cached, alpha, validation.labels, classes);
        if (accuracy > best.validationAccuracy) best = { alpha, beta, validationAccuracy: accuracy };
      }
    }
  } finally {
    tf.dispose([terms.zeroShot, terms.affinity]);
  }
  return best;
}
