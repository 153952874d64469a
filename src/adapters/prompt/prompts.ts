import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../../backbones/types.js';
import { getLogger } from '../../runtime/logger.js';

/**
 * Token ids of CoOp's class prompts on one backbone: start-of-text, `contextTokens` placeholders, the
 * tokens of "<class name>.", end-of-text, then padding. The placeholders are never embedded; learned
 * context tokens take their place.
 */
export interface ClassPrompts {
  /** [classes, length] row-major; `length` is one past the last EOT of any row. */
  readonly ids: Int32Array;
  readonly classes: number;
  readonly length: number;
  readonly contextTokens: number;
  /** EOT position of each row. */
  readonly eot: readonly number[];
  /** Tokens of each class name alone, without the full stop. */
  readonly nameLengths: readonly number[];
}

/** Id written at context positions and after EOT; its embedding is never used. */
const placeholderId = 0;

/**
 * Tokenizes the class prompts for `backbone`, the way CoOp tokenizes "X X … X <class name>.". A row too long
 * for the context length keeps its EOT and loses the end of its class name, as CLIP's tokenizer cuts text.
 */
export function buildClassPrompts(method: string, backbone: Backbone, classNames: readonly string[], contextTokens: number): ClassPrompts {
  const { tokenizer } = backbone;
  const contextLength = backbone.dims.contextLength;
  // Start-of-text, the context, at least one class-name token and end-of-text must fit.
  if (contextTokens + 3 > contextLength) {
    throw new Error(
      `${method}: ${contextTokens} context tokens leave no room for a class name in backbone ${backbone.identity.name}'s ` +
        `context length of ${contextLength}; use at most ${contextLength - 3} context tokens`,
    );
  }

  const room = contextLength - contextTokens - 2;
  const rows = classNames.map((name) => {
    const tokens = tokenizer.encode(`${name}.`);
    if (tokens.length === 0) throw new Error(`${method}: class name ${JSON.stringify(name)} has no tokens; give a non-empty class name`);
    if (tokens.length > room) {
      getLogger().warn(`${method}: class prompt for ${JSON.stringify(name)} is cut to ${room} of its ${tokens.length} tokens to fit the context length ${contextLength}`);
    }
    return tokens.slice(0, room);
  });
  const eot = rows.map((tokens) => 1 + contextTokens + tokens.length);
  const length = Math.max(...eot) + 1;

  const ids = new Int32Array(classNames.length * length).fill(placeholderId);
  for (const [row, tokens] of rows.entries()) {
    const start = row * length;
    ids[start] = tokenizer.sotId;
    ids.set(tokens, start + 1 + contextTokens);
    ids[start + (eot[row] as number)] = tokenizer.eotId;
  }
  const nameLengths = classNames.map((name, row) => Math.min(tokenizer.encode(name).length, (rows[row] as number[]).length));
  return { ids, classes: classNames.length, length, contextTokens, eot, nameLengths };
}

/** Looks up the frozen token embeddings of the prompt rows → [classes, length, textWidth]. */
export function embedPrompts(backbone: Backbone, prompts: ClassPrompts): tf.Tensor3D {
  return tf.tidy(() => backbone.embedTokens(tf.tensor2d(prompts.ids, [prompts.classes, prompts.length], 'int32')));
}

/** Splits prompt embeddings into the start-of-text embedding [1, 1, width] and the tokens after the context [classes, length - 1 - n, width]. */
export function splitAroundContext(embeddings: tf.Tensor3D, contextTokens: number): { start: tf.Tensor3D; suffixes: tf.Tensor3D } {
  const [classes, length, width] = embeddings.shape;
  const after = 1 + contextTokens;
  return {
    start: tf.slice(embeddings, [0, 0, 0], [1, 1, width]),
    suffixes: tf.slice(embeddings, [0, after, 0], [classes, length - after, width]),
  };
}

/**
 * Encodes the class prompts with one context per group: `context` [groups, n, width] is written into every
 * class prompt → text features [groups * classes, embedDim], row `g * classes + c`. One group is CoOp's
 * unified context, one group per image is CoCoOp's. Uses the backbone's shared-prefix encoder when it has
 * one, because start-of-text plus context is the same for every class of a group.
 */
export function encodeWithSharedContext(backbone: Backbone, prompts: ClassPrompts, context: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => {
    const groups = context.shape[0];
    const { start, suffixes } = splitAroundContext(embedPrompts(backbone, prompts), prompts.contextTokens);
    const prefixes = tf.concat([tf.tile(start, [groups, 1, 1]), context], 1) as tf.Tensor3D; // [groups, 1 + n, width]
    if (backbone.encodeTextWithSharedPrefix !== undefined) return backbone.encodeTextWithSharedPrefix(prefixes, suffixes, prompts.eot);

    const sequences = concatenatePairs(prefixes, suffixes);
    const eot = Array.from({ length: groups }, () => prompts.eot).flat();
    return backbone.encodeTextEmbeddings(sequences, eot);
  });
}

/**
 * Encodes the class prompts with a context per class, `context` [classes, n, width] → [classes, embedDim].
 * Only start-of-text is shared, but the shared-prefix encoder is still used when the backbone has one: it
 * pools at EOT without tf.gather, whose gradient needs a kernel tfjs-backend-wasm 4.22 does not have.
 */
export function encodeWithClassContext(backbone: Backbone, prompts: ClassPrompts, context: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => {
    const { start, suffixes } = splitAroundContext(embedPrompts(backbone, prompts), prompts.contextTokens);
    const afterStart = tf.concat([context, suffixes], 1) as tf.Tensor3D; // [classes, length - 1, width]
    if (backbone.encodeTextWithSharedPrefix !== undefined) return backbone.encodeTextWithSharedPrefix(start, afterStart, prompts.eot);
    return backbone.encodeTextEmbeddings(tf.concat([tf.tile(start, [prompts.classes, 1, 1]), afterStart], 1) as tf.Tensor3D, prompts.eot);
  });
}

/** Pairs every prefix [groups, P, width] with every suffix [classes, S, width] → [groups * classes, P + S, width]. */
export function concatenatePairs(prefixes: tf.Tensor3D, suffixes: tf.Tensor3D): tf.Tensor3D {
  const [groups, prefixTokens, width] = prefixes.shape;
  const [classes, suffixTokens] = suffixes.shape;
  const repeatedPrefixes = tf.broadcastTo(tf.expandDims(prefixes, 1), [groups, classes, prefixTokens, width]);
  const repeatedSuffixes = tf.broadcastTo(tf.expandDims(suffixes, 0), [groups, classes, suffixTokens, width]);
  return tf.reshape(tf.concat([repeatedPrefixes, repeatedSuffixes], 2), [groups * classes, prefixTokens + suffixTokens, width]);
}

/**
 * Looks up the token embeddings of a text without start- and end-of-text → [tokens, width], the way CoOp
 * initializes context from words such as "a photo of a".
 */
export function embedWords(method: string, backbone: Backbone, words: string): tf.Tensor2D {
  const ids = backbone.tokenizer.encode(words);
  if (ids.length === 0) throw new Error(`${method}: init words ${JSON.stringify(words)} have no tokens; give words such as "a photo of a" or "random"`);
  return tf.tidy(() => tf.squeeze(backbone.embedTokens(tf.tensor2d(ids, [1, ids.length], 'int32')), [0]) as tf.Tensor2D);
}
