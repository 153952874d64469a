import type * as tf from '@tensorflow/tfjs-core';
import type { ClipTokenizer, TokenizedBatch } from './tokenizer.js';
import type { PreprocessConfig } from './preprocess.js';

/** One of the two towers of a vision-language backbone. */
export type Tower = 'text' | 'vision';

/** The identity of a backbone: enough to tell two checkpoints apart and to record where a tuning module came from. */
export interface BackboneIdentity {
  /** Architecture family, for example `clip` or `eva-clip`. */
  readonly family: string;
  /** Human-readable name, for example `ViT-B-16` or `mini-clip-v1`. */
  readonly name: string;
  /** Revision label of the weights (a tag, a commit or `unknown`). */
  readonly revision: string;
  /** SHA-256 of the weights file, hex. */
  readonly weightsSha256: string;
}

/** Sizes a tuning module depends on. A module is only portable between backbones whose relevant sizes match. */
export interface BackboneDimensions {
  /** Width of the joint image-text embedding space. */
  readonly embedDim: number;
  /** Width of the text transformer's hidden states. */
  readonly textWidth: number;
  /** Width of the vision transformer's hidden states. */
  readonly visionWidth: number;
  /** Number of transformer blocks in the text tower. */
  readonly textLayers: number;
  /** Number of transformer blocks in the vision tower. */
  readonly visionLayers: number;
  /** Attention heads per text block. */
  readonly textHeads: number;
  /** Attention heads per vision block. */
  readonly visionHeads: number;
  /** Maximum number of text tokens, SOT and EOT included. */
  readonly contextLength: number;
  /** Number of token ids the text embedding table has. */
  readonly vocabSize: number;
  /** Input image side, pixels. */
  readonly imageSize: number;
  /** Patch side, pixels. */
  readonly patchSize: number;
}

/** Names of the linear projections inside a transformer block where a low-rank delta can be added. */
export type ProjectionName = 'q' | 'k' | 'v' | 'out' | 'mlp_in' | 'mlp_gate' | 'mlp_out';

/** A projection of one layer of one tower. */
export interface ProjectionSite {
  /** The tower. */
  readonly tower: Tower;
  /** Transformer block index, 0-based. */
  readonly layer: number;
  /** The projection inside the block. */
  readonly projection: ProjectionName;
}

/**
 * Prompt tokens placed into a token sequence.
 * `insert` makes the sequence longer by the number of prompt tokens; `replace` overwrites tokens in place.
 */
export interface PromptTokens {
  /** [promptTokens, width] shared by every row, or [batch, promptTokens, width]. */
  readonly tokens: tf.Tensor2D | tf.Tensor3D;
  /** Sequence index of the first prompt token. */
  readonly at: number;
  /** `insert` lengthens the sequence; `replace` overwrites tokens from `at` on. */
  readonly mode: 'insert' | 'replace';
}

/**
 * Attachment points of one tower. Every hook is optional and called during the forward pass. Tensors a hook
 * returns belong to the caller's `tf.tidy` scope, so hooks may create tensors freely.
 */
export interface TowerHooks {
  /**
   * Prompt tokens for the tower input. Text: placed among the token embeddings before position embeddings
   * are added. Vision: placed after position embeddings and before the pre-norm, and they get no position.
   */
  readonly inputPrompt?: () => PromptTokens | undefined;
  /** Prompt tokens placed into the hidden states right before transformer block `layer` (0-based). */
  readonly layerPrompt?: (layer: number) => PromptTokens | undefined;
  /** A delta added to a projection's output; `input` is that projection's input [rows, inFeatures], the result [rows, outFeatures]. */
  readonly projectionDelta?: (site: ProjectionSite, input: tf.Tensor2D) => tf.Tensor2D | undefined;
  /** A transform of the tower's projected output features [batch, embedDim], before any normalization. */
  readonly outputTransform?: (features: tf.Tensor2D) => tf.Tensor2D;
}

/** Hooks for both towers. */
export interface BackboneHooks {
  /** Hooks of the text tower. */
  readonly text?: TowerHooks;
  /** Hooks of the vision tower. */
  readonly vision?: TowerHooks;
}

/**
 * A frozen vision-language model. Its weights are plain tensors, never variables, so gradients only reach
 * what a tuning module owns. Encoders return unnormalized features [batch, embedDim].
 */
export interface Backbone {
  /** Name, revision and weights hash. */
  readonly identity: BackboneIdentity;
  /** Sizes a tuning module depends on. */
  readonly dims: BackboneDimensions;
  /** Image size, resize filter and normalization this backbone expects. */
  readonly preprocess: PreprocessConfig;
  /** The text tokenizer, with the file hash recorded in module manifests. */
  readonly tokenizer: ClipTokenizer;
  /** exp of the learned temperature, the factor applied to cosine similarities (100 for OpenAI CLIP). */
  readonly logitScale: number;
  /** Tokenizes texts to the backbone's context length. */
  tokenize(texts: readonly string[]): TokenizedBatch;
  /** Looks up token embeddings: ids [batch, tokens] → [batch, tokens, textWidth]. */
  embedTokens(ids: tf.Tensor2D): tf.Tensor3D;
  /** Encodes tokenized texts → [batch, embedDim]. */
  encodeText(batch: TokenizedBatch, hooks?: TowerHooks): tf.Tensor2D;
  /**
   * Encodes token embeddings [batch, tokens, textWidth] (before position embeddings) whose EOT token of row
   * i sits at `eot[i]` → [batch, embedDim]. This is how prompt modules replace tokens.
   */
  encodeTextEmbeddings(embeddings: tf.Tensor3D, eot: readonly number[], hooks?: TowerHooks): tf.Tensor2D;
  /**
   * Encodes every prefix [prefixes, P, textWidth] followed by every suffix [suffixes, S, textWidth] (token
   * embeddings before position embeddings) → [prefixes * suffixes, embedDim], row `p * suffixes + s`.
   * `eot[s]` is the EOT position of suffix s counted from the start of the prefix (P ≤ eot[s] < P + S).
   * Equals {@link encodeTextEmbeddings} on the concatenated sequences, but computes each prefix once per
   * layer. Optional: backbones whose text tower is not causal leave it out. `projectionDelta` hooks must act
   * on each row independently; `inputPrompt` and `layerPrompt` hooks are rejected.
   */
  encodeTextWithSharedPrefix?(prefixes: tf.Tensor3D, suffixes: tf.Tensor3D, eot: readonly number[], hooks?: TowerHooks): tf.Tensor2D;
  /** Encodes preprocessed images [batch, imageSize, imageSize, 3] (NHWC, normalized) → [batch, embedDim]. */
  encodeImage(pixels: tf.Tensor4D, hooks?: TowerHooks): tf.Tensor2D;
  /** Every weight by its canonical name. The tensors belong to the backbone: do not dispose them. */
  weights(): ReadonlyMap<string, tf.Tensor>;
  /** Frees the weights. */
  dispose(): void;
}
