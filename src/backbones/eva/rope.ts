// EVA-02's 2-D rotary position embedding (EVA-CLIP's VisionRotaryEmbeddingFast, timm's RotaryEmbeddingCat
// with ref_feat_shape). For head width D, the first D/2 features of each head rotate with the patch row and
// the last D/2 with the patch column. Within each half, features 2j and 2j + 1 form a pair that rotates by
// the angle t × θ^(-j / (D/4)) with θ = 10000, and t = i / grid × referenceGrid for row or column i.
// The rotation maps the pair (a, b) to (a cos − b sin, b cos + a sin).

import * as tf from '@tensorflow/tfjs-core';
import { matMul } from '../../runtime/matmul.js';
import type { EvaVisionConfig } from './config.js';

/** Base of the rotary frequencies, as in EVA-02 and timm. */
const ropeTheta = 10000;

/** Cosine and sine of every rotary angle: one row per patch in row-major grid order, one column per head feature. */
export interface RopeTables {
  /** Cosines [grid * grid, headWidth], row-major. */
  readonly cos: Float32Array;
  /** Sines [grid * grid, headWidth], row-major. */
  readonly sin: Float32Array;
  /** Number of rows: grid * grid, one per patch. */
  readonly rows: number;
  /** Width of one attention head: vision width / heads. */
  readonly headWidth: number;
}

/** Computes the rotary tables of a vision tower in float64 and rounds them to float32. */
export function evaRopeTables(vision: EvaVisionConfig): RopeTables {
  const headWidth = vision.width / vision.heads;
  if (!Number.isInteger(headWidth) || headWidth % 4 !== 0) {
    throw new Error(
      `EVA-02 rotary embedding needs a head width divisible by 4, got width ${vision.width} / ${vision.heads} heads = ${headWidth}; check vision_cfg.head_width`,
    );
  }
  const grid = vision.imageSize / vision.patchSize;
  const half = headWidth / 2;
  const quarter = headWidth / 4;
  const frequencies = Array.from({ length: quarter }, (_, j) => ropeTheta ** (-j / quarter));
  const position = (i: number) => (i / grid) * vision.ropeReferenceGrid;

  const rows = grid * grid;
  const cos = new Float32Array(rows * headWidth);
  const sin = new Float32Array(rows * headWidth);
  for (let row = 0; row < grid; row++) {
    for (let column = 0; column < grid; column++) {
      const offset = (row * grid + column) * headWidth;
      for (let d = 0; d < headWidth; d++) {
        const angle = d < half ? position(row) * (frequencies[d >> 1] as number) : position(column) * (frequencies[(d - half) >> 1] as number);
        cos[offset + d] = Math.cos(angle);
        sin[offset + d] = Math.sin(angle);
      }
    }
  }
  return { cos, sin, rows, headWidth };
}

/** The rotary tables as tensors, with one extra last row (cos 1, sin 0) that leaves a token unrotated. */
export interface RopeTensors {
  /** Cosines [grid * grid + 1, headWidth]. */
  readonly cos: tf.Tensor2D;
  /** Sines [grid * grid + 1, headWidth]. */
  readonly sin: tf.Tensor2D;
}

/** Builds {@link RopeTensors}, which the caller owns and disposes. */
export function ropeTensors(tables: RopeTables): RopeTensors {
  const identityCos = new Float32Array(tables.headWidth).fill(1);
  const identitySin = new Float32Array(tables.headWidth);
  const cos = new Float32Array([...tables.cos, ...identityCos]);
  const sin = new Float32Array([...tables.sin, ...identitySin]);
  return { cos: tf.tensor2d(cos, [tables.rows + 1, tables.headWidth]), sin: tf.tensor2d(sin, [tables.rows + 1, tables.headWidth]) };
}

/**
 * Picks the table row of every sequence position: `patchIndex[t]` is the grid index of the patch at position
 * t, or -1 for a token that is not rotated (class and prompt tokens). Returns cos and sin [tokens, headWidth].
 */
export function ropeRowsFor(
  rope: RopeTensors,
  patchIndex: readonly number[],
): {
  /** Cosine row of each position [tokens, headWidth]. */
  cos: tf.Tensor2D;
  /** Sine row of each position [tokens, headWidth]. */
  sin: tf.Tensor2D;
} {
  const identityRow = rope.cos.shape[0] - 1;
  const rows = tf.tensor1d(
    patchIndex.map((p) => (p < 0 ? identityRow : p)),
    'int32',
  );
  return { cos: tf.gather(rope.cos, rows), sin: tf.gather(rope.sin, rows) };
}

/** Builds the [width, width] matrix R for which x R maps every feature pair (a, b) to (−b, a). */
function pairRotation(width: number): tf.Tensor2D {
  const values = new Float32Array(width * width);
  for (let i = 0; i < width; i += 2) {
    values[i * width + i + 1] = 1; // a moves to the second slot
    values[(i + 1) * width + i] = -1; // −b moves to the first
  }
  return tf.tensor2d(values, [width, width]);
}

/**
 * Maps every feature pair (a, b) of the last axis to (−b, a). A product with a fixed signed permutation
 * matrix does this: slicing the pairs apart and joining them again ran several times slower on wasm.
 */
function rotatePairs(x: tf.Tensor): tf.Tensor {
  const width = x.shape[x.rank - 1] as number;
  const rows = tf.reshape(x, [-1, width]) as tf.Tensor2D;
  return tf.reshape(matMul(rows, pairRotation(width)), x.shape);
}

/** Rotates every head of x [batch, tokens, heads × headWidth] by the per-token tables cos, sin [tokens, headWidth]. */
export function applyRope(x: tf.Tensor3D, heads: number, rows: { cos: tf.Tensor2D; sin: tf.Tensor2D }): tf.Tensor3D {
  const [batch, tokens, width] = x.shape;
  const headWidth = width / heads;
  const perHead = tf.reshape(x, [batch, tokens, heads, headWidth]);
  const cos = tf.reshape(rows.cos, [tokens, 1, headWidth]);
  const sin = tf.reshape(rows.sin, [tokens, 1, headWidth]);
  const rotated = tf.add(tf.mul(perHead, cos), tf.mul(rotatePairs(perHead), sin));
  return tf.reshape(rotated, [batch, tokens, width]) as tf.Tensor3D;
}
