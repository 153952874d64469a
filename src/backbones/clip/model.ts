import * as tf from '@tensorflow/tfjs-core';
import type { PreprocessConfig } from '../preprocess.js';
import type { ClipTokenizer, TokenizedBatch } from '../tokenizer.js';
import type { Backbone, BackboneDimensions, BackboneIdentity, TowerHooks } from '../types.js';
import type { ClipConfig, ClipWeights } from './config.js';
import { clipWeightsFromCanonical } from './layouts.js';
import { encodeClipTextWithSharedPrefix } from './prefix.js';
import { encodeClipImage, encodeClipText } from './towers.js';

/** CLIP clamps exp(logit_scale) at 100. */
const maxLogitScale = 100;

/** A CLIP backbone: OpenAI's ViT image tower and causal text transformer. */
export class ClipBackbone implements Backbone {
  readonly dims: BackboneDimensions;
  readonly logitScale: number;
  private readonly weightsByName: Map<string, tf.Tensor>;
  private readonly model: ClipWeights;

  /** Takes ownership of `canonical` (tensors named as {@link clipLayout} names them). */
  constructor(
    readonly identity: BackboneIdentity,
    /** The architecture the weights were loaded with. */
    readonly config: ClipConfig,
    canonical: Map<string, tf.Tensor>,
    readonly tokenizer: ClipTokenizer,
    readonly preprocess: PreprocessConfig,
  ) {
    this.weightsByName = canonical;
    this.model = clipWeightsFromCanonical(canonical, config);
    this.logitScale = Math.min(Math.exp(this.model.logitScale), maxLogitScale);
    this.dims = clipDimensions(config);
  }

  tokenize(texts: readonly string[]): TokenizedBatch {
    return this.tokenizer.tokenize(texts, this.config.text.contextLength);
  }

  embedTokens(ids: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, tokens] = ids.shape;
      const flat = tf.gather(this.model.text.tokenEmbedding, tf.cast(tf.reshape(ids, [batch * tokens]), 'int32'));
      return tf.reshape(flat, [batch, tokens, this.config.text.width]) as tf.Tensor3D;
    });
  }

  encodeText(batch: TokenizedBatch, hooks?: TowerHooks): tf.Tensor2D {
    return tf.tidy(() => {
      const ids = tf.tensor2d(batch.ids, [batch.n, batch.contextLength], 'int32');
      return this.encodeTextEmbeddings(this.embedTokens(ids), batch.eot, hooks);
    });
  }

  encodeTextEmbeddings(embeddings: tf.Tensor3D, eot: readonly number[], hooks?: TowerHooks): tf.Tensor2D {
    return tf.tidy(() => encodeClipText(this.model.text, this.config.text, embeddings, eot, hooks));
  }

  encodeTextWithSharedPrefix(prefixes: tf.Tensor3D, suffixes: tf.Tensor3D, eot: readonly number[], hooks?: TowerHooks): tf.Tensor2D {
    return tf.tidy(() => encodeClipTextWithSharedPrefix(this.model.text, this.config.text, prefixes, suffixes, eot, hooks));
  }

  encodeImage(pixels: tf.Tensor4D, hooks?: TowerHooks): tf.Tensor2D {
    return tf.tidy(() => encodeClipImage(this.model.vision, this.config.vision, pixels, hooks));
  }

  weights(): ReadonlyMap<string, tf.Tensor> {
    return this.weightsByName;
  }

  dispose(): void {
    for (const t of this.weightsByName.values()) t.dispose();
    this.weightsByName.clear();
  }
}

/** Reads the interface dimensions from a CLIP config. */
export function clipDimensions(config: ClipConfig): BackboneDimensions {
  return {
    embedDim: config.embedDim,
    textWidth: config.text.width,
    visionWidth: config.vision.width,
    textLayers: config.text.layers,
    visionLayers: config.vision.layers,
    textHeads: config.text.heads,
    visionHeads: config.vision.heads,
    contextLength: config.text.contextLength,
    vocabSize: config.text.vocabSize,
    imageSize: config.vision.imageSize,
    patchSize: config.vision.patchSize,
  };
}
