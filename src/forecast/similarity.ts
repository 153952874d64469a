import * as tf from '@tensorflow/tfjs-core';
import { l2Normalize } from '../adapters/features.js';
import { crossNuclearNorm, nuclearNorm } from './linalg.js';
import type { FeatureSimilarity } from './types.js';

/** Reads a 2-D tensor into float64. */
export function toFloat64(x: tf.Tensor2D): Float64Array {
  return Float64Array.from(x.dataSync());
}

function squaredNorm(x: tf.Tensor): number {
  return tf.tidy(() => tf.sum(tf.square(x)).dataSync()[0] as number);
}

/**
 * Linear CKA (centered kernel alignment, Kornblith et al., "Similarity of Neural Network Representations
 * Revisited", ICML 2019) of two representations of the same rows, x [n, dx] and y [n, dy]:
 * ‖Ycᵀ Xc‖²_F / (‖Xcᵀ Xc‖_F ‖Ycᵀ Yc‖_F) with column-centered Xc and Yc. It is invariant to orthogonal maps
 * and isotropic scaling of either side. Computed through the n × n Gram matrices when n is the smaller size.
 * Returns NaN when either side has no variance (for example a single row).
 */
export function linearCka(x: tf.Tensor2D, y: tf.Tensor2D): number {
  if (x.shape[0] !== y.shape[0]) throw new Error(`linearCka: x has ${x.shape[0]} rows but y has ${y.shape[0]}; pass two representations of the same rows`);
  return tf.tidy(() => {
    const xc = tf.sub(x, tf.mean(x, 0, true)) as tf.Tensor2D;
    const yc = tf.sub(y, tf.mean(y, 0, true)) as tf.Tensor2D;
    let numerator: number;
    let denominator: number;
    if (x.shape[0] <= Math.max(x.shape[1], y.shape[1])) {
      // Gram form: with K = Xc Xcᵀ and L = Yc Ycᵀ, CKA = ⟨K, L⟩_F / (‖K‖_F ‖L‖_F).
      const k = tf.matMul(xc, xc, false, true);
      const l = tf.matMul(yc, yc, false, true);
      numerator = tf.sum(tf.mul(k, l)).dataSync()[0] as number;
      denominator = Math.sqrt(squaredNorm(k) * squaredNorm(l));
    } else {
      numerator = squaredNorm(tf.matMul(yc, xc, true, false));
      denominator = Math.sqrt(squaredNorm(tf.matMul(xc, xc, true, false)) * squaredNorm(tf.matMul(yc, yc, true, false)));
    }
    return denominator > 0 ? numerator / denominator : Number.NaN;
  });
}

/** Reads the Gram matrix x xᵀ [n, n] of rows x [n, d] into float64 with its diagonal set to 0. */
function hollowGram(x: tf.Tensor2D): Float64Array {
  const gram = Float64Array.from(tf.tidy(() => tf.matMul(x, x, false, true).dataSync()));
  const n = x.shape[0];
  for (let i = 0; i < n; i++) gram[i * n + i] = 0;
  return gram;
}

/**
 * Computes the unbiased estimator of HSIC (Song et al., "Feature Selection via Dependence Maximization", JMLR 2012) from two
 * hollow Gram matrices [n, n]: (tr(K L) + 1ᵀK1 · 1ᵀL1 / ((n−1)(n−2)) − 2 · 1ᵀK L1 / (n−2)) / (n(n−3)).
 */
function unbiasedHsic(k: Float64Array, l: Float64Array, n: number): number {
  let trace = 0;
  let sumK = 0;
  let sumL = 0;
  let rowProducts = 0;
  for (let i = 0; i < n; i++) {
    let rowK = 0;
    let rowL = 0;
    for (let j = 0; j < n; j++) {
      const kij = k[i * n + j] as number;
      const lij = l[i * n + j] as number;
      trace += kij * lij;
      rowK += kij;
      rowL += lij;
    }
    sumK += rowK;
    sumL += rowL;
    rowProducts += rowK * rowL;
  }
  return (trace + (sumK * sumL) / ((n - 1) * (n - 2)) - (2 * rowProducts) / (n - 2)) / (n * (n - 3));
}

/** Minimum number of rows {@link debiasedLinearCka} accepts, because the unbiased HSIC estimator divides by n − 3. */
export const debiasedCkaMinimumRows = 4;

/**
 * Computes linear CKA with the unbiased HSIC estimator in place of the plain one, as Nguyen, Raghu and Kornblith use it
 * in their minibatch CKA ("Do Wide and Deep Networks Learn the Same Things?", ICLR 2021). Plain CKA of n rows in d
 * dimensions rises towards 1 as n falls below d, so values from different sample sizes cannot be compared.
 * The debiased value stays near the large-sample one down to about 8 rows, with a wider spread. Needs at
 * least {@link debiasedCkaMinimumRows} rows, and returns NaN when either side has no variance. Can fall
 * slightly below 0 or above 1 on small samples.
 */
export function debiasedLinearCka(x: tf.Tensor2D, y: tf.Tensor2D): number {
  const n = x.shape[0];
  if (n !== y.shape[0]) throw new Error(`debiasedLinearCka: x has ${n} rows but y has ${y.shape[0]}; pass two representations of the same rows`);
  if (n < debiasedCkaMinimumRows) throw new Error(`debiasedLinearCka needs at least ${debiasedCkaMinimumRows} rows, got ${n}; pass more images or prompts`);
  const k = hollowGram(x);
  const l = hollowGram(y);
  const cross = unbiasedHsic(k, l, n);
  const self = unbiasedHsic(k, k, n) * unbiasedHsic(l, l, n);
  return self > 0 ? cross / Math.sqrt(self) : Number.NaN;
}

/**
 * Relative residual of the best orthogonal map from `target` [n, dt] to `source` [n, ds] rows, both L2
 * normalized first: min over orthogonal W of ‖T W − S‖²_F / ‖S‖²_F = (‖T‖² + ‖S‖² − 2 ‖Tᵀ S‖_*) / ‖S‖²,
 * where ‖·‖_* is the nuclear norm. 0 when the target is the source up to a rotation; at most 2.
 */
export function procrustesResidual(target: tf.Tensor2D, source: tf.Tensor2D): number {
  if (target.shape[0] !== source.shape[0]) throw new Error(`procrustesResidual: target has ${target.shape[0]} rows but source has ${source.shape[0]}`);
  const rows = target.shape[0];
  // With fewer rows than dimensions the n × n Gram matrices give the same nuclear norm at a fraction of the cost.
  const throughGrams = rows < Math.min(target.shape[1], source.shape[1]);
  let matrices: Float64Array[] = [];
  let targetNorm = 0;
  let sourceNorm = 0;
  tf.tidy(() => {
    const t = l2Normalize(target);
    const s = l2Normalize(source);
    matrices = throughGrams
      ? [toFloat64(tf.matMul(t, t, false, true) as tf.Tensor2D), toFloat64(tf.matMul(s, s, false, true) as tf.Tensor2D)]
      : [toFloat64(tf.matMul(t, s, true, false) as tf.Tensor2D)];
    targetNorm = squaredNorm(t);
    sourceNorm = squaredNorm(s);
  });
  if (sourceNorm === 0) return Number.NaN;
  const [first, second] = matrices as [Float64Array, Float64Array | undefined];
  const nuclear = second === undefined ? nuclearNorm(first, target.shape[1], source.shape[1]) : crossNuclearNorm(first, second, rows);
  const residual = (targetNorm + sourceNorm - 2 * nuclear) / sourceNorm;
  // Rounding can leave a residual of −1e-7 for identical features.
  return Math.max(residual, 0);
}

/**
 * Debiased CKA and Procrustes residual of two representations of the same rows (at least
 * {@link debiasedCkaMinimumRows}), both on L2-normalized rows.
 */
export function featureSimilarity(target: tf.Tensor2D, source: tf.Tensor2D): FeatureSimilarity {
  const [s, t] = tf.tidy(() => [l2Normalize(source), l2Normalize(target)]) as [tf.Tensor2D, tf.Tensor2D];
  let cka: number;
  try {
    cka = debiasedLinearCka(s, t);
  } finally {
    tf.dispose([s, t]);
  }
  return { cka, procrustesResidual: procrustesResidual(target, source), rows: source.shape[0] };
}

/** Index of the largest entry of each row of logits [n, classes]. */
export function rowArgmax(logits: tf.Tensor2D): Int32Array {
  return tf.tidy(() => tf.argMax(logits, 1).dataSync() as Int32Array);
}

/**
 * Share of rows on which two backbones' zero-shot classifiers pick the same class: image features
 * [n, d] of each backbone against its own class prompt classifier [classes, d] (L2-normalized rows).
 */
export function zeroShotAgreement(sourceImages: tf.Tensor2D, sourceClassifier: tf.Tensor2D, targetImages: tf.Tensor2D, targetClassifier: tf.Tensor2D): number {
  const rows = sourceImages.shape[0];
  if (rows === 0) return Number.NaN;
  const sourceClasses = tf.tidy(() => rowArgmax(tf.matMul(l2Normalize(sourceImages), sourceClassifier, false, true)));
  const targetClasses = tf.tidy(() => rowArgmax(tf.matMul(l2Normalize(targetImages), targetClassifier, false, true)));
  let same = 0;
  for (let i = 0; i < rows; i++) if (sourceClasses[i] === targetClasses[i]) same++;
  return same / rows;
}
