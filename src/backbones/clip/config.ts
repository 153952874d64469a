import type * as tf from '@tensorflow/tfjs-core';
import type { Activation, LayerNormWeights, LinearWeights } from '../layers.js';

/** Sizes of one CLIP transformer tower. */
export interface ClipTowerConfig {
  readonly width: number;
  readonly layers: number;
  readonly heads: number;
  /** Hidden width of the MLP (4 × width in OpenAI CLIP). */
  readonly mlpWidth: number;
  readonly activation: Activation;
  readonly layerNormEps: number;
}

/** The architecture of a CLIP model, as read from a config file or inferred from tensor shapes. */
export interface ClipConfig {
  readonly embedDim: number;
  readonly text: ClipTowerConfig & {
    readonly contextLength: number;
    readonly vocabSize: number;
  };
  readonly vision: ClipTowerConfig & {
    /** Input image side, pixels. */
    readonly imageSize: number;
    /** Patch side, pixels. */
    readonly patchSize: number;
  };
}

/** Weights of one pre-norm residual block: x + attn(ln1(x)), then x + mlp(ln2(x)). */
export interface ClipBlockWeights {
  readonly ln1: LayerNormWeights;
  readonly q: LinearWeights;
  readonly k: LinearWeights;
  readonly v: LinearWeights;
  readonly out: LinearWeights;
  readonly ln2: LayerNormWeights;
  readonly fc1: LinearWeights;
  readonly fc2: LinearWeights;
}

/** Text tower weights. */
export interface ClipTextWeights {
  readonly tokenEmbedding: tf.Tensor2D; // [vocab, width]
  readonly positionEmbedding: tf.Tensor2D; // [contextLength, width]
  readonly blocks: readonly ClipBlockWeights[];
  readonly lnFinal: LayerNormWeights;
  readonly projection: tf.Tensor2D; // [width, embedDim]
}

/** Vision tower weights. */
export interface ClipVisionWeights {
  /** The patch convolution as a matrix [patch * patch * 3, width], rows ordered (row, column, channel). */
  readonly patchEmbedding: tf.Tensor2D;
  readonly classEmbedding: tf.Tensor1D; // [width]
  readonly positionEmbedding: tf.Tensor2D; // [1 + grid * grid, width]
  readonly lnPre: LayerNormWeights;
  readonly blocks: readonly ClipBlockWeights[];
  readonly lnPost: LayerNormWeights;
  readonly projection: tf.Tensor2D; // [width, embedDim]
}

/** All weights of a CLIP model. */
export interface ClipWeights {
  readonly text: ClipTextWeights;
  readonly vision: ClipVisionWeights;
  /** The learned log temperature; logits are exp(logitScale) × cosine similarity. */
  readonly logitScale: number;
}
