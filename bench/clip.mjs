// Times one tensor backend on CLIP ViT-B/16 shapes and prints the result as one JSON line on stdout.
// Each backend needs its own process because vlm-compat selects the backend once per process.
// Usage: node bench/clip.mjs --backend wasm|cpu --prompts N --images N --repetitions N [--matmul]
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as lib from 'vlm-compat';
import { registerMissingWasmKernels } from './wasm-kernels.mjs';
import { classNames, contextStart, contextTokens, createPromptTokenizer, promptText, timeSteps, vitB16Config } from './shared.mjs';

const { values: options } = parseArgs({
  options: {
    backend: { type: 'string' },
    prompts: { type: 'string', default: String(classNames.length) },
    images: { type: 'string', default: '32' },
    repetitions: { type: 'string', default: '3' },
    matmul: { type: 'boolean', default: false },
  },
});

function positiveInteger(name, text, max = Infinity) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new Error(`--${name} must be an integer from 1 to ${max}, got "${text}"`);
  }
  return value;
}

const promptCount = positiveInteger('prompts', options.prompts, classNames.length);
const imageCount = positiveInteger('images', options.images);
const repetitions = positiveInteger('repetitions', options.repetitions);

/** Fills a tensor of `shape` with normal(0, std) values drawn from `random`. */
function randomTensor(random, shape, std = 1) {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = std * random.normal();
  return tf.tensor(values, shape);
}

/** Spreads `count` picks evenly over the class list, so a reduced batch keeps the spread of prompt lengths. */
function pickClasses(count) {
  return Array.from({ length: count }, (_, i) => classNames[Math.floor((i * classNames.length) / count)]);
}

/** The prompt token counts (start- and end-of-text included) and the sequence length the text tower runs on. */
function describeTokens(batch) {
  const lengths = batch.lengths;
  return {
    prompts: batch.n,
    minTokens: Math.min(...lengths),
    maxTokens: Math.max(...lengths),
    meanTokens: lengths.reduce((a, b) => a + b, 0) / lengths.length,
    // encodeClipText cuts every row after the last end-of-text token, so this is the length it computes on.
    sequenceLength: Math.max(...batch.eot) + 1,
  };
}

/**
 * Times one CoOp step: the learned context replaces the 16 placeholder tokens, the text features are
 * scored against fixed image features, and the cross-entropy is differentiated with respect to the context.
 */
async function benchText(backbone, random) {
  const texts = pickClasses(promptCount).map(promptText);
  const tokenizer = createPromptTokenizer(lib, texts);
  const batch = tokenizer.tokenize(texts, vitB16Config.text.contextLength);
  const tokens = describeTokens(batch);

  const ids = tf.tensor2d(batch.ids, [batch.n, batch.contextLength], 'int32');
  const embeddings = backbone.embedTokens(ids); // [prompts, 77, 512], frozen
  const initialContext = randomTensor(random, [contextTokens, vitB16Config.text.width], 0.02);
  const context = tf.variable(initialContext, true, 'context');
  initialContext.dispose();
  const hooks = { inputPrompt: () => ({ tokens: context, at: contextStart, mode: 'replace' }) };
  const imageFeatures = randomTensor(random, [32, vitB16Config.embedDim]); // [images, embedDim]
  const labelIds = Array.from({ length: imageFeatures.shape[0] }, () => random.int(batch.n));
  const labels = tf.tidy(() => tf.oneHot(tf.tensor1d(labelIds, 'int32'), batch.n)); // [images, prompts]

  const normalize = (x) => tf.div(x, tf.norm(x, 'euclidean', -1, true));
  const loss = () => {
    const textFeatures = normalize(backbone.encodeTextEmbeddings(embeddings, batch.eot, hooks)); // [prompts, embedDim]
    const logits = tf.mul(lib.matMul(normalize(imageFeatures), tf.transpose(textFeatures)), backbone.logitScale); // [images, prompts]
    return tf.losses.softmaxCrossEntropy(labels, logits);
  };

  const forwardBackward = await timeSteps(async () => {
    const { value, grads } = tf.variableGrads(loss, [context]);
    await grads.context.data();
    tf.dispose([value, grads.context]);
  }, repetitions);
  const forward = await timeSteps(async () => {
    const value = tf.tidy(loss);
    await value.data();
    value.dispose();
  }, repetitions);

  tf.dispose([ids, embeddings, context, imageFeatures, labels]);
  return { tokens, forwardBackward, forward };
}

/** Times the image tower on `imageCount` random 224 × 224 images. */
async function benchImage(backbone, random) {
  const size = vitB16Config.vision.imageSize;
  const pixels = randomTensor(random, [imageCount, size, size, 3]);
  const forward = await timeSteps(async () => {
    const features = backbone.encodeImage(pixels);
    await features.data();
    features.dispose();
  }, repetitions);
  pixels.dispose();
  return { images: imageCount, forward };
}

/**
 * Times forward plus backward of one text-tower MLP projection, [rows, 512] × [512, 2048], with the
 * library's matMul and with tf.matMul and its own gradient.
 */
async function benchMatMul(rows, random) {
  const { width, mlpWidth } = vitB16Config.text;
  const x = randomTensor(random, [rows, width]);
  const weight = randomTensor(random, [width, mlpWidth], 0.02); // [in, out], the layout vlm-compat stores
  const weightOutIn = tf.transpose(weight); // [out, in], the layout PyTorch stores
  const dy = randomTensor(random, [rows, mlpWidth]);

  const timeGradients = (gradientsOf) =>
    timeSteps(async () => {
      const grads = gradientsOf();
      await Promise.all(grads.map((g) => g.data()));
      tf.dispose(grads);
    }, repetitions);

  const variants = {
    // The default path: the gradient always computes dx and dW, each with an explicit transpose.
    libraryMatMul: await timeGradients(() => [tf.grad((a) => lib.matMul(a, weight))(x, dy)]),
    // tfjs's gradient passes transposeB for dx and computes only the gradients that were requested.
    tfMatMul: await timeGradients(() => [tf.grad((a) => tf.matMul(a, weight))(x, dy)]),
    tfMatMulTransposeB: await timeGradients(() => [tf.grad((a) => tf.matMul(a, weightOutIn, false, true))(x, dy)]),
    // The same work as the default path (dx and dW), done with transpose flags.
    tfMatMulWithWeightGradient: await timeGradients(() => tf.grads((a, b) => tf.matMul(a, b))([x, weight], dy)),
  };

  tf.dispose([x, weight, weightOutIn, dy]);
  return { rows, inFeatures: width, outFeatures: mlpWidth, variants };
}

async function main() {
  if (options.backend === undefined) throw new Error('--backend is required: wasm or cpu');
  lib.setLogger(lib.createLogger('warn'));
  const backend = await lib.initBackend({ backend: options.backend });
  const workarounds = [];
  if (backend.tfjsName === 'wasm') {
    const note = registerMissingWasmKernels();
    if (note !== undefined) workarounds.push(note);
  }

  const random = lib.createRandom(0);
  const identity = { family: 'clip', name: 'ViT-B-16-random', revision: 'none', weightsSha256: '0'.repeat(64) };
  const setupStart = performance.now();
  const canonical = lib.initClipCanonical(vitB16Config, random.fork('weights'));
  const placeholderTokenizer = createPromptTokenizer(lib, []);
  const backbone = new lib.ClipBackbone(identity, vitB16Config, canonical, placeholderTokenizer, lib.openaiClipPreprocess(vitB16Config.vision.imageSize));
  const setupMs = performance.now() - setupStart;

  const text = await benchText(backbone, random.fork('text'));
  const image = await benchImage(backbone, random.fork('image'));
  const matmul = options.matmul ? await benchMatMul(text.tokens.prompts * text.tokens.sequenceLength, random.fork('matmul')) : undefined;

  backbone.dispose();
  const result = { backend: backend.name, repetitions, workarounds, setupMs, text, image, matmul, tensorsLeft: tf.memory().numTensors };
  process.stdout.write(JSON.stringify(result) + '\n');
}

await main();
