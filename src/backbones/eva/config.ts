import type * as tf from '@tensorflow/tfjs-core';
import type { LayerNormWeights, LinearWeights } from '../layers.js';
import type { ClipConfig } from '../clip/config.js';

/** Sizes of an EVA-02 vision tower. */
export interface EvaVisionConfig {
  /** Width of the hidden states. */
  readonly width: number;
  /** Number of transformer blocks. */
  readonly layers: number;
  /** Attention heads. The head width (width / heads) must be a multiple of 4 for the 2-D rotary embedding. */
  readonly heads: number;
  /** Hidden width of the SwiGLU MLP: int(width × mlp_ratio), 2048 for width 768 and mlp_ratio 2.6667. */
  readonly mlpWidth: number;
  /** Layer-norm epsilon, 1e-6 in EVA-02. */
  readonly layerNormEps: number;
  /** Input image side, pixels. */
  readonly imageSize: number;
  /** Patch side, pixels. */
  readonly patchSize: number;
  /**
   * Patch grid side the rotary embedding was pretrained at (EVA's `pt_hw_seq_len`, timm's `ref_feat_shape`),
   * 16 for EVA02-CLIP-B/16. Patch row or column i gets the rotary position i / grid × ropeReferenceGrid.
   */
  readonly ropeReferenceGrid: number;
}

/** The architecture of an EVA-CLIP model: an EVA-02 vision tower and CLIP's text transformer. */
export interface EvaClipConfig {
  /** Width of the joint image-text embedding space. */
  readonly embedDim: number;
  /** Text tower sizes, the same fields as a CLIP text tower. */
  readonly text: ClipConfig['text'];
  /** Vision tower sizes. */
  readonly vision: EvaVisionConfig;
}

/**
 * Weights of one EVA-02 block: x + out(subLN(attention(q, k, v))) with q, k, v from ln1(x), then
 * x + mlpOut(subLN(SiLU(mlpGate(h)) ⊙ mlpIn(h))) with h = ln2(x).
 */
export interface EvaBlockWeights {
  /** Layer norm before attention. */
  readonly ln1: LayerNormWeights;
  /** Query projection. */
  readonly q: LinearWeights;
  /** The key projection has no bias in EVA-02. */
  readonly k: LinearWeights;
  /** Value projection. */
  readonly v: LinearWeights;
  /** Sub-LN on the attention output before the output projection (EVA's `inner_attn_ln`). */
  readonly attnNorm: LayerNormWeights;
  /** Attention output projection. */
  readonly out: LinearWeights;
  /** Layer norm before the MLP. */
  readonly ln2: LayerNormWeights;
  /** SwiGLU gate branch, passed through SiLU (EVA's `w1`, timm's `fc1_g`). */
  readonly mlpGate: LinearWeights;
  /** SwiGLU value branch (EVA's `w2`, timm's `fc1_x`). */
  readonly mlpIn: LinearWeights;
  /** Sub-LN on the SwiGLU hidden state (EVA's `ffn_ln`). */
  readonly mlpNorm: LayerNormWeights;
  /** Projection back to the tower width (EVA's `w3`, timm's `fc2`). */
  readonly mlpOut: LinearWeights;
}

/** EVA-02 vision tower weights. */
export interface EvaVisionWeights {
  /** The patch convolution as a matrix [patch * patch * 3, width], rows ordered (row, column, channel), with its bias. */
  readonly patchEmbedding: LinearWeights;
  /** Class token embedding [1, 1, width]. */
  readonly classToken: tf.Tensor3D;
  /** Position embeddings of the class token and each patch [1, 1 + grid * grid, width], absolute and learned. */
  readonly positionEmbedding: tf.Tensor3D;
  /** Transformer blocks, first to last. */
  readonly blocks: readonly EvaBlockWeights[];
  /** Final layer norm, applied to the class token. */
  readonly norm: LayerNormWeights;
  /** Linear head to the embedding space: weight [width, embedDim] and bias. */
  readonly head: LinearWeights;
}
