import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../../backbones/types.js';
import type { Random } from '../../runtime/random.js';
import { l2Normalize } from '../features.js';
import type { Attachment, ModuleBatch, ModuleContext } from '../types.js';
import { embedWords } from './prompts.js';

/** Attachment of the prompt methods: learned tokens in the text input, gradients through the text tower, frozen image features. */
export const promptAttachment: Attachment = {
  depth: 'text-input',
  towers: ['text'],
  layers: { text: [], vision: [] },
  text: 'backprop',
  vision: 'frozen-features',
};

/** `init` value that draws the context from normal(0, 0.02), as CoOp does without CTX_INIT. */
export const randomInit = 'random';

/** Standard deviation of randomly initialized context tokens (`nn.init.normal_(ctx_vectors, std=0.02)` in CoOp). */
const contextStd = 0.02;

/** Number of context tokens a config yields: the init words' token count, or `contextTokens` for a random init. */
export function contextTokenCount(method: string, backbone: Backbone, init: string, contextTokens: number): number {
  if (init === randomInit) return contextTokens;
  const count = backbone.tokenizer.encode(init).length;
  if (count === 0) throw new Error(`${method}: init words ${JSON.stringify(init)} have no tokens; give words such as "a photo of a" or "random"`);
  return count;
}

/**
 * Creates the initial context [n, width]: the token embeddings of the init words, or normal(0, 0.02) draws.
 * With `copies`, the same initial context is repeated [copies, n, width] (one per class).
 */
export function initialContext(method: string, backbone: Backbone, init: string, contextTokens: number, random: Random, copies?: number): tf.Tensor {
  const width = backbone.dims.textWidth;
  return tf.tidy(() => {
    if (init !== randomInit) {
      const words = embedWords(method, backbone, init);
      return copies === undefined ? words : tf.tile(tf.expandDims(words, 0), [copies, 1, 1]);
    }
    const shape = copies === undefined ? [contextTokens, width] : [copies, contextTokens, width];
    const size = shape.reduce((a, b) => a * b, 1);
    return tf.tensor(Float32Array.from({ length: size }, () => contextStd * random.normal()), shape);
  });
}

/** Throws when learned tokens are not as wide as the text tower of the backbone in use. */
export function checkTextWidth(method: string, what: string, width: number, backbone: Backbone): void {
  if (width === backbone.dims.textWidth) return;
  throw new Error(
    `${method}: ${what} have width ${width}, but backbone ${backbone.identity.name} has text width ${backbone.dims.textWidth}. ` +
      'Prompt tokens only transplant between text towers of the same width; retrain the module on this backbone.',
  );
}

/** Throws when image features [batch, actual] do not fit weights that expect `expected` columns. */
export function checkImageFeatureWidth(method: string, what: string, expected: number, actual: number, backbone: Backbone): void {
  if (expected === actual) return;
  throw new Error(
    `${method}: ${what} expect ${expected}-dimensional image features, but the batch has ${actual}-dimensional ones ` +
      `(backbone ${backbone.identity.name} has embedDim ${backbone.dims.embedDim}); retrain the module on a backbone of embedDim ${actual}.`,
  );
}

/** Returns the batch's frozen image features, or encodes its images without hooks. */
export function imageFeaturesOf(method: string, context: ModuleContext, batch: ModuleBatch): tf.Tensor2D {
  if (batch.imageFeatures !== undefined) return batch.imageFeatures;
  if (batch.images !== undefined) return context.backbone.encodeImage(batch.images);
  throw new Error(`${method}: the batch has neither imageFeatures nor images; pass { imageFeatures } computed with backbone.encodeImage`);
}

/**
 * Computes KgCoOp's knowledge-guided term: 1 − the mean over classes of the cosine similarity between learned
 * class text features [classes, d] and the zero-shot ones [classes, d], as htyao89/KgCoOp's trainers/kgcoop.py
 * computes it. For L2-normalized features this is half their mean squared L2 distance.
 */
export function knowledgeGuidedLoss(textFeatures: tf.Tensor2D, zeroShot: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.sub(1, tf.mean(tf.sum(tf.mul(l2Normalize(textFeatures), l2Normalize(zeroShot)), 1))) as tf.Scalar);
}

/** Two 32-bit FNV-1a hashes with different offsets over the bits of `values`, as 16 hex digits. */
function fingerprint(arrays: readonly Float32Array[]): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (const values of arrays) {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (const word of bits) {
      a = Math.imul(a ^ word, 0x01000193);
      b = Math.imul(b ^ word, 0x01000193) ^ (b >>> 15);
    }
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

let nextModuleId = 0;

/** Returns a process-unique id for a module instance, used in feature-cache keys. */
export function newModuleId(method: string): string {
  nextModuleId += 1;
  return `${method}#${nextModuleId}`;
}

/**
 * Returns class text features, cached for inference in the context's feature cache. The key is the module id
 * and a hash of the parameter values, so predicting batch after batch encodes the prompts once, and updated
 * parameters never read a stale entry. Entries of earlier parameter values stay until the cache is disposed.
 * While training, `compute` runs every time because its gradient is needed.
 */
export function classTextFeatures(
  context: ModuleContext,
  moduleId: string,
  parameters: ReadonlyMap<string, tf.Variable>,
  compute: () => tf.Tensor2D,
): tf.Tensor2D {
  if (context.training) return compute();
  const key = `${moduleId}:${fingerprint([...parameters.values()].map((v) => v.dataSync() as Float32Array))}`;
  return context.features.remember(context.backbone, key, compute);
}
