import * as tf from '@tensorflow/tfjs-core';
import type { PreprocessConfig } from '../backbones/preprocess.js';
import type { ClipTokenizer, TokenizedBatch } from '../backbones/tokenizer.js';
import type { Backbone, BackboneDimensions, BackboneIdentity, TowerHooks } from '../backbones/types.js';

/**
 * A stand-in for a source backbone that is no longer loaded. It holds the source's text features of the
 * class prompts and encodes exactly those prompts, so an output-feature module can build its zero-shot
 * classifier through the usual {@link FeatureCache} calls. Every other backbone operation throws,
 * naming the operation, because a bridged module carries nothing else of the source.
 */
export class StoredPromptBackbone implements Backbone {
  private readonly rowByPrompt: Map<string, number>;
  private readonly promptsByBatch = new WeakMap<TokenizedBatch, readonly string[]>();

  constructor(
    readonly identity: BackboneIdentity,
    readonly dims: BackboneDimensions,
    readonly logitScale: number,
    prompts: readonly string[],
    /** [prompts, embedDim], unnormalized; owned by the caller. */
    private readonly textFeatures: tf.Tensor2D,
  ) {
    this.rowByPrompt = new Map(prompts.map((prompt, row) => [prompt, row]));
  }

  private unavailable(operation: string): Error {
    return new Error(
      `${operation} needs the source backbone ${this.identity.name}, but a bridged module keeps only its text features of the class prompts. ` +
        'Only modules that read output features and the class prompt classifier can be bridged; migrate other modules with distill.',
    );
  }

  get preprocess(): PreprocessConfig {
    throw this.unavailable('preprocessing');
  }

  get tokenizer(): ClipTokenizer {
    throw this.unavailable('the tokenizer');
  }

  tokenize(texts: readonly string[]): TokenizedBatch {
    const unknown = texts.find((text) => !this.rowByPrompt.has(text));
    if (unknown !== undefined) throw this.unavailable(`encoding the text ${JSON.stringify(unknown)}, which is not one of the stored class prompts,`);
    const batch: TokenizedBatch = { ids: new Int32Array(0), eot: [], lengths: [], n: texts.length, contextLength: 0, truncated: texts.map(() => false) };
    this.promptsByBatch.set(batch, [...texts]);
    return batch;
  }

  embedTokens(): tf.Tensor3D {
    throw this.unavailable('token embedding');
  }

  encodeText(batch: TokenizedBatch, hooks?: TowerHooks): tf.Tensor2D {
    const texts = this.promptsByBatch.get(batch);
    if (texts === undefined) throw this.unavailable('encoding tokens that did not come from the stored class prompts');
    if (hooks !== undefined && Object.keys(hooks).length > 0) throw this.unavailable('a text tower hook');
    const rows = texts.map((text) => this.rowByPrompt.get(text) as number);
    return tf.tidy(() => tf.gather(this.textFeatures, tf.tensor1d(rows, 'int32')) as tf.Tensor2D);
  }

  encodeTextEmbeddings(): tf.Tensor2D {
    throw this.unavailable('encoding token embeddings');
  }

  encodeImage(): tf.Tensor2D {
    throw this.unavailable('encoding images');
  }

  weights(): ReadonlyMap<string, tf.Tensor> {
    throw this.unavailable('reading weights');
  }

  dispose(): void {
    // The text features belong to the bridged module, which frees them.
  }
}
