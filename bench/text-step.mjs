// CoOp's prompt-tuning step on the text tower, optionally split into chunks of prompts.
import * as tf from '@tensorflow/tfjs-core';
import { contextStart, contextTokens, vitB16Config } from './shared.mjs';

/** Images the text features are scored against in one step. */
const imagesPerStep = 32;

/** Fills a tensor of `shape` with normal(0, std) values drawn from `random`. */
export function randomTensor(random, shape, std = 1) {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = std * random.normal();
  return tf.tensor(values, shape);
}

/**
 * Creates CoOp's step for the prompts of `batch` (a TokenizedBatch): a learned context [16, width]
 * replaces the placeholder tokens after start-of-text, the text features are scored against fixed image
 * features, and the cross-entropy is differentiated with respect to the context.
 *
 * With `chunkSize` below the prompt count the step runs in two passes that give the same gradient. A
 * forward pass over all prompts yields dLoss/dFeatures. Then each chunk of prompts runs forward and
 * backward with its rows of that gradient, and the chunk gradients are summed. The wasm backend needs
 * this because tfjs keeps every intermediate tensor of a gradient computation until it ends (about
 * 90 MB per ViT-B/16 prompt), and the wasm heap stops at 4 GB.
 */
export function createCoopStep(lib, backbone, batch, random, chunkSize) {
  const ids = tf.tensor2d(batch.ids, [batch.n, batch.contextLength], 'int32');
  const embeddings = backbone.embedTokens(ids); // [prompts, 77, width], frozen
  ids.dispose();
  const initialContext = randomTensor(random, [contextTokens, vitB16Config.text.width], 0.02);
  const context = tf.variable(initialContext);
  initialContext.dispose();
  const imageFeatures = tf.tidy(() => normalize(randomTensor(random, [imagesPerStep, vitB16Config.embedDim]))); // [images, embedDim]
  const labelIds = Array.from({ length: imagesPerStep }, () => random.int(batch.n));
  const labels = tf.tidy(() => tf.oneHot(tf.tensor1d(labelIds, 'int32'), batch.n)); // [images, prompts]

  const chunks = [];
  for (let start = 0; start < batch.n; start += chunkSize) {
    const size = Math.min(chunkSize, batch.n - start);
    const chunkEmbeddings = tf.slice(embeddings, [start, 0, 0], [size, -1, -1]);
    chunks.push({ start, size, embeddings: chunkEmbeddings, eot: batch.eot.slice(start, start + size) });
  }

  const hooksFor = (tokens) => ({ inputPrompt: () => ({ tokens, at: contextStart, mode: 'replace' }) });
  const encodeChunk = (chunk, tokens) => backbone.encodeTextEmbeddings(chunk.embeddings, chunk.eot, hooksFor(tokens)); // [size, embedDim]
  const encodeAll = () => tf.concat(chunks.map((chunk) => encodeChunk(chunk, context)), 0); // [prompts, embedDim]
  const lossOf = (textFeatures) => {
    const logits = tf.mul(lib.matMul(imageFeatures, tf.transpose(normalize(textFeatures))), backbone.logitScale); // [images, prompts]
    return tf.losses.softmaxCrossEntropy(labels, logits);
  };

  const gradientOnePass = () => tf.grad((tokens) => lossOf(encodeChunk(chunks[0], tokens)))(context);
  const gradientChunked = () =>
    tf.tidy(() => {
      const featureGradient = tf.grad(lossOf)(encodeAll()); // [prompts, embedDim]
      let sum = tf.zerosLike(context);
      for (const chunk of chunks) {
        const rows = tf.slice(featureGradient, [chunk.start, 0], [chunk.size, -1]);
        const next = tf.add(sum, tf.grad((tokens) => encodeChunk(chunk, tokens))(context, rows));
        tf.dispose([sum, rows]);
        sum = next;
      }
      return sum;
    });

  return {
    chunks: chunks.length,
    /** Computes the context gradient [16, width]. */
    gradient: chunks.length === 1 ? gradientOnePass : gradientChunked,
    /** Computes the context gradient of the first chunk's prompts alone, for warming up. */
    firstChunkGradient: () => tf.grad((tokens) => tf.sum(encodeChunk(chunks[0], tokens)))(context),
    /** Computes the loss without a gradient. */
    loss: () => tf.tidy(() => lossOf(encodeAll())),
    dispose: () => tf.dispose([embeddings, context, imageFeatures, labels, ...chunks.map((chunk) => chunk.embeddings)]),
  };
}

function normalize(x) {
  return tf.div(x, tf.norm(x, 'euclidean', -1, true));
}
