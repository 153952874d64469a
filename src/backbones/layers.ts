import * as tf from '@tensorflow/tfjs-core';
import { linear, matMul } from '../runtime/matmul.js';
import type { ProjectionName, PromptTokens, Tower, TowerHooks } from './types.js';

/** A dense layer stored input-major: weight [in, out], so that y = x · weight + bias needs no transpose. */
export interface LinearWeights {
  /** Weight matrix [in, out]. */
  readonly weight: tf.Tensor2D;
  /** Bias [out]; absent for layers without one. */
  readonly bias?: tf.Tensor1D;
}

/** Layer-norm scale, shift and epsilon. */
export interface LayerNormWeights {
  /** Scale [width]. */
  readonly gamma: tf.Tensor1D;
  /** Shift [width]. */
  readonly beta: tf.Tensor1D;
  /** Added to the variance before the square root. */
  readonly eps: number;
}

/** Activation between the two MLP projections, as named by checkpoint configs. */
export type Activation = 'quick_gelu' | 'gelu';

/** Normalizes the last axis. */
export function layerNorm(x: tf.Tensor, norm: LayerNormWeights): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  const normalized = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, norm.eps)));
  return tf.add(tf.mul(normalized, norm.gamma), norm.beta);
}

/** Applies the named activation. `gelu` is the exact erf form, as in PyTorch and HuggingFace `gelu`. */
export function activate(x: tf.Tensor, activation: Activation): tf.Tensor {
  if (activation === 'quick_gelu') return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

/** The part of a forward pass that hooks need to know where they are. */
export interface HookContext {
  /** The tower being run. */
  readonly tower: Tower;
  /** Index of the current transformer block, 0-based. */
  readonly layer: number;
  /** The caller's hooks for this tower, if any. */
  readonly hooks: TowerHooks | undefined;
}

/** Applies a dense layer to [rows, in] and adds the projection delta a hook returns for this site. */
export function projectWithHooks(rows: tf.Tensor2D, weights: LinearWeights, context: HookContext, projection: ProjectionName): tf.Tensor2D {
  const y = linear(rows, weights.weight, weights.bias) as tf.Tensor2D;
  const delta = context.hooks?.projectionDelta?.({ tower: context.tower, layer: context.layer, projection }, rows);
  if (delta === undefined) return y;
  if (delta.shape[0] !== y.shape[0] || delta.shape[1] !== y.shape[1]) {
    throw new Error(
      `projectionDelta for ${context.tower} layer ${context.layer} ${projection} returned shape [${delta.shape}], expected [${y.shape}]`,
    );
  }
  return tf.add(y, delta);
}

/**
 * Computes multi-head scaled dot-product attention for q, k, v [batch, tokens, width] → [batch, tokens, width].
 * `mask` [tokens, tokens] is added to the scores (0 to keep, a large negative number to drop).
 */
export function multiHeadAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, heads: number, mask?: tf.Tensor2D): tf.Tensor3D {
  const [batch, tokens, width] = q.shape;
  const headWidth = width / heads;
  const split = (x: tf.Tensor3D) =>
    // [batch, tokens, width] → [batch * heads, tokens, headWidth]
    tf.reshape(tf.transpose(tf.reshape(x, [batch, tokens, heads, headWidth]), [0, 2, 1, 3]), [batch * heads, tokens, headWidth]) as tf.Tensor3D;

  const qh = tf.mul(split(q), 1 / Math.sqrt(headWidth)) as tf.Tensor3D;
  const kh = tf.transpose(split(k), [0, 2, 1]) as tf.Tensor3D; // [batch * heads, headWidth, tokens]
  let scores: tf.Tensor3D = matMul(qh, kh); // [batch * heads, tokens, tokens]
  if (mask !== undefined) scores = tf.add(scores, mask);
  const attended = matMul(tf.softmax(scores), split(v)); // [batch * heads, tokens, headWidth]

  return tf.reshape(tf.transpose(tf.reshape(attended, [batch, heads, tokens, headWidth]), [0, 2, 1, 3]), [batch, tokens, width]) as tf.Tensor3D;
}

/** Builds the causal mask [tokens, tokens]: 0 on and below the diagonal, -1e9 above it. */
export function causalMask(tokens: number): tf.Tensor2D {
  const lower = tf.linalg.bandPart(tf.ones([tokens, tokens]), -1, 0);
  return tf.mul(tf.sub(1, lower), -1e9) as tf.Tensor2D;
}

/**
 * Places prompt tokens into a sequence [batch, tokens, width]. Returns the new sequence and how many
 * positions the tokens at or after `at` moved (the prompt length for `insert`, 0 for `replace`).
 */
export function placePromptTokens(x: tf.Tensor3D, prompt: PromptTokens, where: string): {
  /** The sequence with the prompt placed [batch, tokens', width]. */
  x: tf.Tensor3D;
  /** How many positions the tokens at or after `at` moved. */
  shift: number;
} {
  const [batch, tokens, width] = x.shape;
  const p = prompt.tokens;
  const promptLength = p.rank === 2 ? p.shape[0] : p.shape[1];
  const promptWidth = p.shape[p.rank - 1];
  if (promptWidth !== width) {
    throw new Error(`${where}: prompt tokens have width ${promptWidth}, the tower has width ${width}`);
  }
  if (p.rank === 3 && p.shape[0] !== batch) {
    throw new Error(`${where}: prompt tokens are given for ${p.shape[0]} rows, the batch has ${batch}; give [tokens, width] to share them`);
  }
  const end = prompt.mode === 'replace' ? prompt.at + promptLength : prompt.at;
  if (!Number.isInteger(prompt.at) || prompt.at < 0 || end > tokens) {
    throw new Error(`${where}: ${prompt.mode} of ${promptLength} prompt tokens at ${prompt.at} does not fit a sequence of ${tokens}`);
  }

  const batched = (p.rank === 2 ? tf.broadcastTo(tf.expandDims(p, 0), [batch, promptLength, width]) : p) as tf.Tensor3D;
  const before = tf.slice(x, [0, 0, 0], [batch, prompt.at, width]);
  const after = tf.slice(x, [0, end, 0], [batch, tokens - end, width]);
  return { x: tf.concat([before, batched, after], 1), shift: prompt.mode === 'insert' ? promptLength : 0 };
}
