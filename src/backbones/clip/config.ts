import type * as tf from '@tensorflow/tfjs-core';
import type { Activation, LayerNormWeights, LinearWeights } from '../layers.js';

/** Sizes of one CLIP transformer tower. */
export interface ClipTowerConfig {
  /** Width of the hidden states. */
  readonly width: number;
  /** Number of transformer blocks. */
  readonly layers: number;
  /** Attention heads per block. */
  readonly heads: number;
  /** Hidden width of the MLP (4 × width in OpenAI CLIP). */
  readonly mlpWidth: number;
  /** Activation between the two MLP projections. */
  readonly activation: Activation;
  /** Epsilon of every layer norm in the tower. */
  readonly layerNormEps: number;
}

/** The architecture of a CLIP model, as read from a config file or inferred from tensor shapes. */
export interface ClipConfig {
  /** Width of the joint image-text embedding space. */
  readonly embedDim: number;
  /** Text tower sizes. */
  readonly text: ClipTowerConfig & {
    /** Maximum number of text tokens, start- and end-of-text included. */
    readonly contextLength: number;
    /** Rows of the token embedding table. */
    readonly vocabSize: number;
  };
  /** Vision tower sizes. */
  readonly vision: ClipTowerConfig & {
    /** Input image side, pixels. */
    readonly imageSize: number;
    /** Patch side, pixels. */
    readonly patchSize: number;
  };
}

/** Weights of one pre-norm residual block: x + attn(ln1(x)), then x + mlp(ln2(x)). */
export interface ClipBlockWeights {
  /** Layer norm before attention. */
  readonly ln1: LayerNormWeights;
  /** Query projection. */
  readonly q: LinearWeights;
  /** Key projection. */
  readonly k: LinearWeights;
  /** Value projection. */
  readonly v: LinearWeights;
  /** Attention output projection. */
  readonly out: LinearWeights;
  /** Layer norm before the MLP. */
  readonly ln2: LayerNormWeights;
  /** First MLP projection [width, mlpWidth]. */
  readonly fc1: LinearWeights;
  /** Second MLP projection [mlpWidth, width]. */
  readonly fc2: LinearWeights;
}

/** Text tower weights. */
export interface ClipTextWeights {
  /** Token embedding table [vocab, width]. */
  readonly tokenEmbedding: tf.Tensor2D;
  /** Position embeddings [contextLength, width]. */
  readonly positionEmbedding: tf.Tensor2D;
  /** Transformer blocks, first to last. */
  readonly blocks: readonly ClipBlockWeights[];
  /** Final layer norm after the last block. */
  readonly lnFinal: LayerNormWeights;
  /** Projection into the embedding space [width, embedDim]. */
  readonly projection: tf.Tensor2D;
}

/** Vision tower weights. */
export interface ClipVisionWeights {
  /** The patch convolution as a matrix [patch * patch * 3, width], rows ordered (row, column, channel). */
  readonly patchEmbedding: tf.Tensor2D;
  /** Class token embedding [width]. */
  readonly classEmbedding: tf.Tensor1D;
  /** Position embeddings of the class token and each patch [1 + grid * grid, width]. */
  readonly positionEmbedding: tf.Tensor2D;
  /** Layer norm before the first block. */
  readonly lnPre: LayerNormWeights;
  /** Transformer blocks, first to last. */
  readonly blocks: readonly ClipBlockWeights[];
  /** Layer norm applied to the class token after the last block. */
  readonly lnPost: LayerNormWeights;
  /** Projection into the embedding space [width, embedDim]. */
  readonly projection: tf.Tensor2D;
}

/** All weights of a CLIP model. */
export interface ClipWeights {
  /** Text tower weights. */
  readonly text: ClipTextWeights;
  /** Vision tower weights. */
  readonly vision: ClipVisionWeights;
  /** The learned log temperature; logits are exp(logitScale) × cosine similarity. */
  readonly logitScale: number;
}
