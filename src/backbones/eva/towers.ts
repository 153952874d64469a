import * as tf from '@tensorflow/tfjs-core';
import { matMul } from '../../runtime/matmul.js';
import { checkPixels, extractPatches } from '../clip/towers.js';
import { layerNorm, multiHeadAttention, placePromptTokens, projectWithHooks, type HookContext } from '../layers.js';
import type { PromptTokens, TowerHooks } from '../types.js';
import type { EvaBlockWeights, EvaVisionConfig, EvaVisionWeights } from './config.js';
import { applyRope, ropeRowsFor, type RopeTensors } from './rope.js';

/** Roles of sequence positions without a patch: the class token and prompt tokens. A patch position stores its grid index (≥ 0). */
const classRole = -2;
const promptRole = -1;

/**
 * Updates the role of every position after prompt tokens are placed. Inserted tokens and tokens written by
 * `replace` are prompt tokens, so they get no rotary embedding, and every patch keeps the rotary angle of its
 * grid cell wherever it ends up in the sequence.
 */
function placeRoles(roles: readonly number[], prompt: PromptTokens, where: string): number[] {
  const length = prompt.tokens.rank === 2 ? prompt.tokens.shape[0] : prompt.tokens.shape[1];
  if (prompt.mode === 'insert') {
    return [...roles.slice(0, prompt.at), ...new Array<number>(length).fill(promptRole), ...roles.slice(prompt.at)];
  }
  const next = [...roles];
  for (let i = prompt.at; i < prompt.at + length; i++) {
    if (next[i] === classRole) {
      throw new Error(`${where}: a replace of ${length} prompt tokens at ${prompt.at} would overwrite the class token at ${i}; place the prompt after it`);
    }
    next[i] = promptRole;
  }
  return next;
}

function placePrompt(x: tf.Tensor3D, roles: readonly number[], prompt: PromptTokens, where: string): { x: tf.Tensor3D; roles: number[] } {
  // placePromptTokens validates the prompt, so the roles are only updated for a placement that fits.
  const placed = placePromptTokens(x, prompt, where);
  return { x: placed.x, roles: placeRoles(roles, prompt, where) };
}

/** Runs one EVA-02 block on x [batch, tokens, width]. `rope` contains the rotary rows of every token. */
export function evaBlock(
  x: tf.Tensor3D,
  block: EvaBlockWeights,
  config: EvaVisionConfig,
  rope: { cos: tf.Tensor2D; sin: tf.Tensor2D },
  context: HookContext,
): tf.Tensor3D {
  const [batch, tokens, width] = x.shape;
  const toRows = (t: tf.Tensor) => tf.reshape(t, [batch * tokens, -1]) as tf.Tensor2D;
  const toSequence = (t: tf.Tensor) => tf.reshape(t, [batch, tokens, -1]) as tf.Tensor3D;

  // Projection deltas are added before the rotation, as a LoRA on EVA's q_proj / k_proj would be.
  const h = toRows(layerNorm(x, block.ln1));
  const q = applyRope(toSequence(projectWithHooks(h, block.q, context, 'q')), config.heads, rope);
  const k = applyRope(toSequence(projectWithHooks(h, block.k, context, 'k')), config.heads, rope);
  const v = toSequence(projectWithHooks(h, block.v, context, 'v'));
  const attended = toRows(layerNorm(multiHeadAttention(q, k, v, config.heads), block.attnNorm));
  const afterAttention = tf.add(x, toSequence(projectWithHooks(attended, block.out, context, 'out'))) as tf.Tensor3D;

  // SwiGLU: SiLU(gate) ⊙ value, then the sub-LN, then the output projection.
  const m = toRows(layerNorm(afterAttention, block.ln2));
  const gate = projectWithHooks(m, block.mlpGate, context, 'mlp_gate');
  const value = projectWithHooks(m, block.mlpIn, context, 'mlp_in');
  const hidden = layerNorm(tf.mul(tf.mul(gate, tf.sigmoid(gate)), value), block.mlpNorm) as tf.Tensor2D;
  const mlpOut = projectWithHooks(hidden, block.mlpOut, context, 'mlp_out');
  return tf.add(afterAttention, tf.reshape(mlpOut, [batch, tokens, width])) as tf.Tensor3D;
}

/**
 * Encodes preprocessed images [batch, size, size, 3] with the EVA-02 vision tower → [batch, embedDim].
 *
 * Prompt tokens from `inputPrompt` are placed after the position embedding is added (EVA-02 has no pre-norm),
 * and `layerPrompt` tokens right before their block. Prompt tokens get neither a position embedding nor a
 * rotary embedding. The rotary embedding follows the patches: the tower keeps the grid index of the patch at
 * every sequence position, so a prompt placed before, between or after the patches leaves each patch's
 * rotation unchanged. The output is the class token, wherever prompts have moved it.
 */
export function encodeEvaImage(
  weights: EvaVisionWeights,
  config: EvaVisionConfig,
  rope: RopeTensors,
  pixels: tf.Tensor4D,
  hooks?: TowerHooks,
): tf.Tensor2D {
  checkPixels(pixels, config.imageSize);
  const batch = pixels.shape[0];
  const width = config.width;
  const gridTokens = (config.imageSize / config.patchSize) ** 2;

  const patches = tf.reshape(
    tf.add(matMul(extractPatches(pixels, config.patchSize), weights.patchEmbedding.weight), weights.patchEmbedding.bias ?? 0),
    [batch, gridTokens, width],
  );
  const cls = tf.broadcastTo(weights.classToken, [batch, 1, width]);
  let x = tf.add(tf.concat([cls, patches], 1), weights.positionEmbedding) as tf.Tensor3D;
  let roles = [classRole, ...Array.from({ length: gridTokens }, (_, i) => i)];

  const input = hooks?.inputPrompt?.();
  if (input !== undefined) ({ x, roles } = placePrompt(x, roles, input, 'vision input prompt'));
  let rows = ropeRowsFor(rope, roles);

  for (const [layer, block] of weights.blocks.entries()) {
    const prompt = hooks?.layerPrompt?.(layer);
    if (prompt !== undefined) {
      ({ x, roles } = placePrompt(x, roles, prompt, `vision layer ${layer} prompt`));
      rows = ropeRowsFor(rope, roles);
    }
    x = evaBlock(x, block, config, rows, { tower: 'vision', layer, hooks });
  }

  const classPosition = roles.indexOf(classRole);
  const classToken = tf.reshape(tf.slice(x, [0, classPosition, 0], [batch, 1, width]), [batch, width]) as tf.Tensor2D;
  const normed = layerNorm(classToken, weights.norm) as tf.Tensor2D;
  const features = tf.add(matMul(normed, weights.head.weight), weights.head.bias ?? 0) as tf.Tensor2D;
  return hooks?.outputTransform?.(features) ?? features;
}
