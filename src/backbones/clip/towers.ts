import * as tf from '@tensorflow/tfjs-core';
import { matMul } from '../../runtime/matmul.js';
import {
  activate,
  causalMask,
  layerNorm,
  multiHeadAttention,
  placePromptTokens,
  projectWithHooks,
  type HookContext,
} from '../layers.js';
import type { TowerHooks } from '../types.js';
import type { ClipBlockWeights, ClipConfig, ClipTextWeights, ClipTowerConfig, ClipVisionWeights } from './config.js';

/** Runs one pre-norm residual block on x [batch, tokens, width]. */
export function clipBlock(
  x: tf.Tensor3D,
  block: ClipBlockWeights,
  tower: ClipTowerConfig,
  context: HookContext,
  mask?: tf.Tensor2D,
): tf.Tensor3D {
  const [batch, tokens, width] = x.shape;
  const toRows = (t: tf.Tensor) => tf.reshape(t, [batch * tokens, -1]) as tf.Tensor2D;
  const toSequence = (t: tf.Tensor) => tf.reshape(t, [batch, tokens, -1]) as tf.Tensor3D;

  const h = toRows(layerNorm(x, block.ln1));
  const q = toSequence(projectWithHooks(h, block.q, context, 'q'));
  const k = toSequence(projectWithHooks(h, block.k, context, 'k'));
  const v = toSequence(projectWithHooks(h, block.v, context, 'v'));
  const attended = toRows(multiHeadAttention(q, k, v, tower.heads, mask));
  const afterAttention = tf.add(x, toSequence(projectWithHooks(attended, block.out, context, 'out'))) as tf.Tensor3D;

  const m = toRows(layerNorm(afterAttention, block.ln2));
  const hidden = activate(projectWithHooks(m, block.fc1, context, 'mlp_in'), tower.activation) as tf.Tensor2D;
  const mlpOut = projectWithHooks(hidden, block.fc2, context, 'mlp_out');
  return tf.add(afterAttention, tf.reshape(mlpOut, [batch, tokens, width])) as tf.Tensor3D;
}

function checkEot(eot: readonly number[], batch: number, tokens: number): void {
  if (eot.length !== batch) {
    throw new Error(`encodeTextEmbeddings: ${eot.length} EOT positions for a batch of ${batch}; give one per row`);
  }
  for (const [row, position] of eot.entries()) {
    if (!Number.isInteger(position) || position < 0 || position >= tokens) {
      throw new Error(`encodeTextEmbeddings: EOT position ${position} of row ${row} is outside 0..${tokens - 1}`);
    }
  }
}

/**
 * Encodes token embeddings [batch, tokens, width] (no position embeddings yet) with CLIP's causal text
 * transformer and pools each row at its EOT token → [batch, embedDim].
 */
export function encodeClipText(
  weights: ClipTextWeights,
  config: ClipConfig['text'],
  embeddings: tf.Tensor3D,
  eot: readonly number[],
  hooks?: TowerHooks,
): tf.Tensor2D {
  const [batch, , width] = embeddings.shape;
  if (width !== config.width) {
    throw new Error(`encodeTextEmbeddings: embeddings have width ${width}, the text tower has width ${config.width}`);
  }
  checkEot(eot, batch, embeddings.shape[1]);
  let x = embeddings;
  let positions = [...eot];

  const input = hooks?.inputPrompt?.();
  if (input !== undefined) {
    const placed = placePromptTokens(x, input, 'text input prompt');
    x = placed.x;
    positions = positions.map((p) => (p >= input.at ? p + placed.shift : p));
  }

  // Under the causal mask no token after the last EOT can change any EOT output, so the sequence is cut
  // there: the result is exact and the cost drops with the prompt length.
  const used = Math.max(...positions) + 1;
  if (used > config.contextLength) {
    throw new Error(`text sequence of ${used} tokens exceeds the context length ${config.contextLength}; shorten the prompt`);
  }
  x = tf.slice(x, [0, 0, 0], [batch, used, width]);
  x = tf.add(x, tf.slice(weights.positionEmbedding, [0, 0], [used, width]));

  for (const [layer, block] of weights.blocks.entries()) {
    const prompt = hooks?.layerPrompt?.(layer);
    if (prompt !== undefined) {
      const placed = placePromptTokens(x, prompt, `text layer ${layer} prompt`);
      x = placed.x;
      positions = positions.map((p) => (p >= prompt.at ? p + placed.shift : p));
    }
    x = clipBlock(x, block, config, { tower: 'text', layer, hooks }, causalMask(x.shape[1]));
  }

  const normed = layerNorm(x, weights.lnFinal) as tf.Tensor3D;
  const tokens = normed.shape[1];
  // Pool at EOT with a one-hot product: tf.gather's gradient needs UnsortedSegmentSum, which the wasm backend
  // lacks. The one-hot rows are built here because tfjs-backend-wasm 4.22's OneHot writes integer bits into a
  // float32 result.
  const oneHotRows = new Float32Array(batch * tokens);
  positions.forEach((p, row) => (oneHotRows[row * tokens + p] = 1));
  const select = tf.tensor3d(oneHotRows, [batch, 1, tokens]);
  const pooled = tf.reshape(matMul(select, normed), [batch, width]) as tf.Tensor2D;
  const features = matMul(pooled, weights.projection);
  return hooks?.outputTransform?.(features) ?? features;
}

/**
 * Splits images [batch, size, size, 3] into flattened patches [batch * grid * grid, patch * patch * 3],
 * each row ordered (row, column, channel) like a convolution kernel [patch, patch, 3].
 */
export function extractPatches(pixels: tf.Tensor4D, patchSize: number): tf.Tensor2D {
  const [batch, size] = pixels.shape;
  const grid = size / patchSize;
  // [batch, grid, patch, grid, patch * 3] → [batch * grid, grid, patch, patch * 3], kept at rank 4 for every backend
  const rows = tf.reshape(pixels, [batch * grid, patchSize, grid, patchSize * 3]);
  return tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [batch * grid * grid, patchSize * patchSize * 3]) as tf.Tensor2D;
}

/** Checks that images are [batch, imageSize, imageSize, 3]. */
export function checkPixels(pixels: tf.Tensor4D, imageSize: number): void {
  const [, height, widthPixels, channels] = pixels.shape;
  if (height !== imageSize || widthPixels !== imageSize || channels !== 3) {
    throw new Error(
      `encodeImage expects [batch, ${imageSize}, ${imageSize}, 3] (NHWC, preprocessed), got [${pixels.shape}]; run the backbone's preprocessing first`,
    );
  }
}

/** Encodes preprocessed images [batch, size, size, 3] with CLIP's vision transformer → [batch, embedDim]. */
export function encodeClipImage(
  weights: ClipVisionWeights,
  config: ClipConfig['vision'],
  pixels: tf.Tensor4D,
  hooks?: TowerHooks,
): tf.Tensor2D {
  checkPixels(pixels, config.imageSize);
  const batch = pixels.shape[0];
  const width = config.width;
  const gridTokens = (config.imageSize / config.patchSize) ** 2;

  const patches = tf.reshape(matMul(extractPatches(pixels, config.patchSize), weights.patchEmbedding), [batch, gridTokens, width]);
  const cls = tf.broadcastTo(tf.reshape(weights.classEmbedding, [1, 1, width]), [batch, 1, width]);
  let x = tf.add(tf.concat([cls, patches], 1), weights.positionEmbedding) as tf.Tensor3D;

  const input = hooks?.inputPrompt?.();
  if (input !== undefined) x = placePromptTokens(x, input, 'vision input prompt').x;
  x = layerNorm(x, weights.lnPre) as tf.Tensor3D;

  for (const [layer, block] of weights.blocks.entries()) {
    const prompt = hooks?.layerPrompt?.(layer);
    if (prompt !== undefined) x = placePromptTokens(x, prompt, `vision layer ${layer} prompt`).x;
    x = clipBlock(x, block, config, { tower: 'vision', layer, hooks });
  }

  const classToken = tf.reshape(tf.slice(x, [0, 0, 0], [batch, 1, width]), [batch, width]);
  const features = matMul(layerNorm(classToken, weights.lnPost) as tf.Tensor2D, weights.projection);
  return hooks?.outputTransform?.(features) ?? features;
}
