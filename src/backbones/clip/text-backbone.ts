import * as tf from '@tensorflow/tfjs-core';
import type { ClipTokenizer, TokenizedBatch } from '../tokenizer.js';
import type { TowerHooks } from '../types.js';
import type { ClipConfig, ClipTextWeights } from './config.js';
import { encodeClipTextWithSharedPrefix } from './prefix.js';
import { encodeClipText } from './towers.js';

/**
 * The text side of every backbone whose text tower is CLIP's causal transformer (CLIP and EVA-CLIP):
 * tokenizing, token embedding lookup and text encoding. Subclasses add the image tower.
 */
export abstract class ClipTextBackbone {
  /** The tokenizer that ships with the weights. */
  abstract readonly tokenizer: ClipTokenizer;
  /** Text tower weights. */
  protected abstract readonly textWeights: ClipTextWeights;
  /** Text tower sizes. */
  protected abstract readonly textConfig: ClipConfig['text'];

  /** {@inheritDoc Backbone.tokenize} */
  tokenize(texts: readonly string[]): TokenizedBatch {
    return this.tokenizer.tokenize(texts, this.textConfig.contextLength);
  }

  /** {@inheritDoc Backbone.embedTokens} */
  embedTokens(ids: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, tokens] = ids.shape;
      const flat = tf.gather(this.textWeights.tokenEmbedding, tf.cast(tf.reshape(ids, [batch * tokens]), 'int32'));
      return tf.reshape(flat, [batch, tokens, this.textConfig.width]) as tf.Tensor3D;
    });
  }

  /** {@inheritDoc Backbone.encodeText} */
  encodeText(batch: TokenizedBatch, hooks?: TowerHooks): tf.Tensor2D {
    return tf.tidy(() => {
      const ids = tf.tensor2d(batch.ids, [batch.n, batch.contextLength], 'int32');
      return this.encodeTextEmbeddings(this.embedTokens(ids), batch.eot, hooks);
    });
  }

  /** {@inheritDoc Backbone.encodeTextEmbeddings} */
  encodeTextEmbeddings(embeddings: tf.Tensor3D, eot: readonly number[], hooks?: TowerHooks): tf.Tensor2D {
    return tf.tidy(() => encodeClipText(this.textWeights, this.textConfig, embeddings, eot, hooks));
  }

  /** {@inheritDoc Backbone.encodeTextWithSharedPrefix} */
  encodeTextWithSharedPrefix(prefixes: tf.Tensor3D, suffixes: tf.Tensor3D, eot: readonly number[], hooks?: TowerHooks): tf.Tensor2D {
    return tf.tidy(() => encodeClipTextWithSharedPrefix(this.textWeights, this.textConfig, prefixes, suffixes, eot, hooks));
  }
}
