// Times one tensor backend on CLIP ViT-B/16 shapes and prints the result as one JSON line on stdout.
// Each backend needs its own process because vlm-compat selects the backend once per process.
// Usage: node bench/clip.mjs --backend NAME [--prompts N --images N --repetitions N
//        --text-chunk N --image-chunk N --matmul --skip-warm-up]
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as lib from 'vlm-compat';
import { benchMatMul } from './matmul.mjs';
import { classNames, createPromptTokenizer, timeSteps, tokenizePrompts, vitB16Config } from './shared.mjs';
import { createCoopStep, randomTensor } from './text-step.mjs';

const { values: options } = parseArgs({
  options: {
    backend: { type: 'string' },
    prompts: { type: 'string', default: String(classNames.length) },
    images: { type: 'string', default: '32' },
    repetitions: { type: 'string', default: '3' },
    // Prompts per gradient pass and images per encodeImage call. The defaults run the whole batch at once.
    'text-chunk': { type: 'string' },
    'image-chunk': { type: 'string' },
    matmul: { type: 'boolean', default: false },
    // Skips the warm-up runs, for backends whose runs take so long that a warm-up would dominate the time.
    'skip-warm-up': { type: 'boolean', default: false },
  },
});

function positiveInteger(name, text, max = Number.MAX_SAFE_INTEGER, min = 1) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

// The loss is a softmax over the prompts, which needs two classes at least.
const promptCount = positiveInteger('prompts', options.prompts, classNames.length, 2);
const imageCount = positiveInteger('images', options.images);
const repetitions = positiveInteger('repetitions', options.repetitions);
const textChunk = positiveInteger('text-chunk', options['text-chunk'] ?? String(promptCount));
const imageChunk = positiveInteger('image-chunk', options['image-chunk'] ?? String(imageCount));

/** Returns `run` as the warm-up, or a no-op under --skip-warm-up. */
function warmUp(run) {
  return options['skip-warm-up'] ? async () => {} : run;
}

/** Summarizes the prompt token counts (start- and end-of-text included) and the sequence length the text tower runs on. */
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

/** Times CoOp's step (forward plus backward) and its forward pass alone. */
async function benchText(backbone, random) {
  const batch = tokenizePrompts(lib, promptCount);
  const step = createCoopStep(lib, backbone, batch, random, textChunk);

  // The warm-up runs the first chunk only: every chunk calls the same kernels on similar shapes.
  const forwardBackward = await timeSteps(
    async () => {
      const gradient = step.gradient();
      await gradient.data();
      gradient.dispose();
    },
    repetitions,
    warmUp(async () => {
      const gradient = step.firstChunkGradient();
      await gradient.data();
      gradient.dispose();
    }),
  );
  const forwardStep = async () => {
    const loss = step.loss();
    await loss.data();
    loss.dispose();
  };
  const forward = await timeSteps(forwardStep, repetitions, warmUp(forwardStep));

  step.dispose();
  return { tokens: describeTokens(batch), chunkSize: Math.min(textChunk, batch.n), chunks: step.chunks, forwardBackward, forward };
}

/** Times the image tower on `imageCount` random 224 × 224 images, `imageChunk` images per encodeImage call. */
async function benchImage(backbone, random) {
  const size = vitB16Config.vision.imageSize;
  const pixels = randomTensor(random, [imageCount, size, size, 3]);
  const calls = [];
  for (let start = 0; start < imageCount; start += imageChunk) {
    calls.push(tf.slice(pixels, [start, 0, 0, 0], [Math.min(imageChunk, imageCount - start), -1, -1, -1]));
  }

  const encode = async (chunks) => {
    for (const chunk of chunks) {
      const features = backbone.encodeImage(chunk);
      await features.data();
      features.dispose();
    }
  };
  const forward = await timeSteps(() => encode(calls), repetitions, warmUp(() => encode(calls.slice(0, 1))));

  tf.dispose([pixels, ...calls]);
  return { images: imageCount, chunkSize: Math.min(imageChunk, imageCount), forward };
}

async function main() {
  if (options.backend === undefined) throw new Error(`--backend is required: one of ${lib.backendPreference.join(', ')}`);
  lib.setLogger(lib.createLogger('warn'));
  const backend = await lib.initBackend({ backend: options.backend });

  const random = lib.createRandom(0);
  const identity = { family: 'clip', name: 'ViT-B-16-random', revision: 'none', weightsSha256: '0'.repeat(64) };
  const setupStart = performance.now();
  const canonical = lib.initClipCanonical(vitB16Config, random.fork('weights'));
  // The backbone's own tokenizer is never used: each benchmark tokenizes its prompts with tokenizePrompts.
  const unusedTokenizer = createPromptTokenizer(lib, []);
  const preprocess = lib.openaiClipPreprocess(vitB16Config.vision.imageSize);
  const backbone = new lib.ClipBackbone(identity, vitB16Config, canonical, unusedTokenizer, preprocess);
  const setupMs = performance.now() - setupStart;

  const text = await benchText(backbone, random.fork('text'));
  const image = await benchImage(backbone, random.fork('image'));
  const matmulRows = text.tokens.prompts * text.tokens.sequenceLength;
  const matmul = options.matmul ? await benchMatMul(lib, matmulRows, random.fork('matmul'), repetitions) : undefined;

  backbone.dispose();
  const result = { backend: backend.name, repetitions, warmUp: !options['skip-warm-up'], setupMs, text, image, matmul, tensorsLeft: tf.memory().numTensors };
  process.stdout.write(JSON.stringify(result) + '\n');
}

await main();
