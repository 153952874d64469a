import * as tf from '@tensorflow/tfjs-core';
import { matMul } from '../../runtime/matmul.js';
import { activate, causalMask, layerNorm, projectWithHooks, type HookContext } from '../layers.js';
import type { TowerHooks } from '../types.js';
import type { ClipBlockWeights, ClipConfig, ClipTextWeights } from './config.js';

/** Layout of the hidden-state rows: every prefix's tokens first, then the tokens of every (prefix, suffix) pair. */
interface SharedPrefixLayout {
  /** Number of prefixes. */
  readonly prefixes: number;
  /** Tokens per prefix. */
  readonly prefixTokens: number;
  /** Number of suffixes. */
  readonly suffixes: number;
  /** Tokens per suffix, after the cut at the last EOT. */
  readonly suffixTokens: number;
  readonly heads: number;
  readonly width: number;
}

function prefixRowCount(layout: SharedPrefixLayout): number {
  return layout.prefixes * layout.prefixTokens;
}

function checkSharedPrefixInputs(prefixes: tf.Tensor3D, suffixes: tf.Tensor3D, eot: readonly number[], width: number, hooks?: TowerHooks): void {
  const where = 'encodeTextWithSharedPrefix';
  if (prefixes.shape[2] !== width || suffixes.shape[2] !== width) {
    throw new Error(`${where}: prefixes have width ${prefixes.shape[2]} and suffixes width ${suffixes.shape[2]}, the text tower has width ${width}`);
  }
  const [, prefixTokens] = prefixes.shape;
  const [suffixCount, suffixTokens] = suffixes.shape;
  if (prefixTokens < 1) throw new Error(`${where}: the prefix has no tokens; give at least the start-of-text token`);
  if (eot.length !== suffixCount) {
    throw new Error(`${where}: ${eot.length} EOT positions for ${suffixCount} suffixes; give one per suffix`);
  }
  for (const [row, position] of eot.entries()) {
    if (!Number.isInteger(position) || position < prefixTokens || position >= prefixTokens + suffixTokens) {
      throw new Error(
        `${where}: EOT position ${position} of suffix ${row} is outside the suffix (${prefixTokens}..${prefixTokens + suffixTokens - 1}); ` +
          'positions count from the start of the prefix, and the EOT token must sit in the suffix',
      );
    }
  }
  if (hooks?.inputPrompt !== undefined || hooks?.layerPrompt !== undefined) {
    throw new Error(`${where} does not support inputPrompt or layerPrompt hooks; concatenate the sequences and call encodeTextEmbeddings instead`);
  }
}

/**
 * Splits rows [batch * tokens, width] into heads [batch * heads, tokens, headWidth].
 * With `scale`, the result is multiplied by it (the attention's 1 / sqrt(headWidth) on queries).
 */
function toHeads(rows: tf.Tensor2D, batch: number, tokens: number, heads: number, scale?: number): tf.Tensor3D {
  const headWidth = rows.shape[1] / heads;
  const split = tf.reshape(tf.transpose(tf.reshape(rows, [batch, tokens, heads, headWidth]), [0, 2, 1, 3]), [batch * heads, tokens, headWidth]);
  return (scale === undefined ? split : tf.mul(split, scale)) as tf.Tensor3D;
}

/** Merges heads [batch * heads, tokens, headWidth] back into rows [batch * tokens, width]. */
function fromHeads(x: tf.Tensor3D, batch: number, tokens: number, heads: number): tf.Tensor2D {
  const headWidth = x.shape[2];
  return tf.reshape(tf.transpose(tf.reshape(x, [batch, heads, tokens, headWidth]), [0, 2, 1, 3]), [batch * tokens, heads * headWidth]) as tf.Tensor2D;
}

/** Masks of one layer's attention: causal within a prefix, and [prefix columns all visible | causal] for suffix queries. */
interface AttentionMasks {
  readonly prefix: tf.Tensor2D; // [prefixTokens, prefixTokens]
  readonly suffix: tf.Tensor2D; // [suffixTokens, prefixTokens + suffixTokens]
}

function attentionMasks(layout: SharedPrefixLayout): AttentionMasks {
  const { prefixTokens, suffixTokens } = layout;
  return {
    prefix: causalMask(prefixTokens),
    suffix: tf.concat([tf.zeros([suffixTokens, prefixTokens]), causalMask(suffixTokens)], 1) as tf.Tensor2D,
  };
}

/**
 * Causal multi-head attention over the shared-prefix layout, on q, k, v rows [rows, width] → [rows, width].
 * Prefix queries attend within their prefix. A suffix query attends to the keys of its prefix and to the
 * keys of its own suffix up to itself, the same keys it attends to in the concatenated sequence.
 */
function sharedPrefixAttention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, layout: SharedPrefixLayout, masks: AttentionMasks): tf.Tensor2D {
  const { prefixes, prefixTokens, suffixes, suffixTokens, heads, width } = layout;
  const prefixRows = prefixRowCount(layout);
  const suffixRows = prefixes * suffixes * suffixTokens;
  const scale = 1 / Math.sqrt(width / heads);
  const prefixPart = (x: tf.Tensor2D) => tf.slice(x, [0, 0], [prefixRows, width]) as tf.Tensor2D;
  const suffixPart = (x: tf.Tensor2D) => tf.slice(x, [prefixRows, 0], [suffixRows, width]) as tf.Tensor2D;

  // Prefix heads [prefixes * heads, prefixTokens, headWidth].
  const qp = toHeads(prefixPart(q), prefixes, prefixTokens, heads, scale);
  const kp = toHeads(prefixPart(k), prefixes, prefixTokens, heads);
  const vp = toHeads(prefixPart(v), prefixes, prefixTokens, heads);
  const kpT = tf.transpose(kp, [0, 2, 1]) as tf.Tensor3D; // [prefixes * heads, headWidth, prefixTokens]

  const prefixScores = tf.add(matMul(qp, kpT), masks.prefix) as tf.Tensor3D;
  const prefixOut = fromHeads(matMul(tf.softmax(prefixScores), vp), prefixes, prefixTokens, heads); // [prefixRows, width]

  // Suffix heads, seen two ways: [prefixes * heads, suffixes * suffixTokens, headWidth] against the shared
  // prefix keys, and [prefixes * heads * suffixes, suffixTokens, headWidth] against the suffix's own keys.
  const alongPrefix = suffixes * suffixTokens;
  const perSuffix = prefixes * heads * suffixes;
  const qs = toHeads(suffixPart(q), prefixes, alongPrefix, heads, scale);
  const ks = tf.reshape(toHeads(suffixPart(k), prefixes, alongPrefix, heads), [perSuffix, suffixTokens, -1]) as tf.Tensor3D;
  const vs = tf.reshape(toHeads(suffixPart(v), prefixes, alongPrefix, heads), [perSuffix, suffixTokens, -1]) as tf.Tensor3D;

  const scoresOnPrefix = tf.reshape(matMul(qs, kpT), [perSuffix, suffixTokens, prefixTokens]);
  const scoresOnSuffix = matMul(tf.reshape(qs, [perSuffix, suffixTokens, -1]) as tf.Tensor3D, tf.transpose(ks, [0, 2, 1]) as tf.Tensor3D);
  // One softmax over [prefix keys | suffix keys] per query, as in the concatenated sequence.
  const probabilities = tf.softmax(tf.add(tf.concat([scoresOnPrefix, scoresOnSuffix], 2), masks.suffix)); // [perSuffix, suffixTokens, prefixTokens + suffixTokens]

  const onPrefix = tf.reshape(tf.slice(probabilities, [0, 0, 0], [perSuffix, suffixTokens, prefixTokens]), [prefixes * heads, alongPrefix, prefixTokens]) as tf.Tensor3D;
  const onSuffix = tf.slice(probabilities, [0, 0, prefixTokens], [perSuffix, suffixTokens, suffixTokens]) as tf.Tensor3D;
  const fromPrefix = matMul(onPrefix, vp); // [prefixes * heads, alongPrefix, headWidth]
  const fromSuffix = tf.reshape(matMul(onSuffix, vs), [prefixes * heads, alongPrefix, -1]) as tf.Tensor3D;
  const suffixOut = fromHeads(tf.add(fromPrefix, fromSuffix) as tf.Tensor3D, prefixes, alongPrefix, heads); // [suffixRows, width]

  return tf.concat([prefixOut, suffixOut], 0) as tf.Tensor2D;
}

/**
 * Runs one pre-norm residual block on hidden states in the shared-prefix layout [rows, width]. Everything
 * but attention acts on each row alone, so it runs on all rows at once.
 */
function sharedPrefixBlock(
  x: tf.Tensor2D,
  block: ClipBlockWeights,
  config: ClipConfig['text'],
  layout: SharedPrefixLayout,
  masks: AttentionMasks,
  context: HookContext,
): tf.Tensor2D {
  const h = layerNorm(x, block.ln1) as tf.Tensor2D;
  const q = projectWithHooks(h, block.q, context, 'q');
  const k = projectWithHooks(h, block.k, context, 'k');
  const v = projectWithHooks(h, block.v, context, 'v');
  const attended = sharedPrefixAttention(q, k, v, layout, masks);
  const afterAttention = tf.add(x, projectWithHooks(attended, block.out, context, 'out')) as tf.Tensor2D;

  const m = layerNorm(afterAttention, block.ln2) as tf.Tensor2D;
  const hidden = activate(projectWithHooks(m, block.fc1, context, 'mlp_in'), config.activation) as tf.Tensor2D;
  return tf.add(afterAttention, projectWithHooks(hidden, block.fc2, context, 'mlp_out')) as tf.Tensor2D;
}

/**
 * Encodes, with CLIP's causal text transformer, every sequence made of one prefix [prefixes, P, width]
 * followed by one suffix [suffixes, S, width]. Inputs are token embeddings without position embeddings.
 * The result is features [prefixes * suffixes, embedDim], row `p * suffixes + s` for prefix p and suffix s.
 * `eot[s]` is the EOT position of suffix s counted from the start of the prefix, so P ≤ eot[s] < P + S.
 *
 * The result equals encodeClipText on the concatenated sequences (up to float rounding), at a lower cost:
 * under the causal mask a prefix token never attends to anything after it, so each prefix's hidden states
 * are computed once per layer instead of once per suffix, and each suffix token attends to the keys and
 * values of its prefix and of its own suffix. Like encodeClipText, it cuts every suffix after the last EOT.
 *
 * Hooks: `projectionDelta` is called once per site on the prefix rows stacked on the suffix rows, so it must
 * act on each row independently (as a low-rank delta does); `outputTransform` applies as usual;
 * `inputPrompt` and `layerPrompt` are rejected.
 */
export function encodeClipTextWithSharedPrefix(
  weights: ClipTextWeights,
  config: ClipConfig['text'],
  prefixes: tf.Tensor3D,
  suffixes: tf.Tensor3D,
  eot: readonly number[],
  hooks?: TowerHooks,
): tf.Tensor2D {
  const width = config.width;
  checkSharedPrefixInputs(prefixes, suffixes, eot, width, hooks);
  const [prefixCount, prefixTokens] = prefixes.shape;
  const suffixCount = suffixes.shape[0];

  // As in encodeClipText, no token after the last EOT can change an EOT output, so the suffixes are cut there.
  const used = Math.max(...eot) + 1;
  if (used > config.contextLength) {
    throw new Error(`text sequence of ${used} tokens exceeds the context length ${config.contextLength}; shorten the prompt`);
  }
  const suffixTokens = used - prefixTokens;
  const layout: SharedPrefixLayout = { prefixes: prefixCount, prefixTokens, suffixes: suffixCount, suffixTokens, heads: config.heads, width };

  // Rows: every prefix token, then the suffix tokens of each (prefix, suffix) pair, position embeddings added.
  const prefixRows = tf.add(prefixes, tf.slice(weights.positionEmbedding, [0, 0], [prefixTokens, width]));
  const suffixRows = tf.add(
    tf.slice(suffixes, [0, 0, 0], [suffixCount, suffixTokens, width]),
    tf.slice(weights.positionEmbedding, [prefixTokens, 0], [suffixTokens, width]),
  );
  const pairedSuffixRows = prefixCount === 1 ? suffixRows : tf.broadcastTo(tf.expandDims(suffixRows, 0), [prefixCount, suffixCount, suffixTokens, width]);
  let x = tf.concat([tf.reshape(prefixRows, [-1, width]), tf.reshape(pairedSuffixRows, [-1, width])], 0) as tf.Tensor2D;

  const masks = attentionMasks(layout);
  for (const [layer, block] of weights.blocks.entries()) {
    x = sharedPrefixBlock(x, block, config, layout, masks, { tower: 'text', layer, hooks });
  }

  // Pool each sequence at its EOT token. A one-hot weighted sum instead of tf.gather keeps the backward
  // pass on kernels every backend has (the wasm backend lacks the one tf.gather's gradient needs).
  const pairs = prefixCount * suffixCount;
  const suffixHidden = tf.reshape(tf.slice(x, [prefixRowCount(layout), 0], [pairs * suffixTokens, width]), [pairs, suffixTokens, width]);
  const selection = new Float32Array(pairs * suffixTokens);
  for (let pair = 0; pair < pairs; pair++) selection[pair * suffixTokens + (eot[pair % suffixCount] as number) - prefixTokens] = 1;
  const pooled = tf.sum(tf.mul(suffixHidden, tf.tensor3d(selection, [pairs, suffixTokens, 1])), 1) as tf.Tensor2D; // [pairs, width]

  const features = matMul(layerNorm(pooled, weights.lnFinal) as tf.Tensor2D, weights.projection);
  return hooks?.outputTransform?.(features) ?? features;
}
