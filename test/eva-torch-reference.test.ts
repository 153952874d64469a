import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvaClipConfig } from '../src/backbones/eva/config.js';
import { loadEvaBackbone } from '../src/backbones/eva/load.js';
import type { EvaClipBackbone } from '../src/backbones/eva/model.js';
import { evaRopeTables } from '../src/backbones/eva/rope.js';
import { randomPixels } from './fixtures/tiny-clip.js';
import { writeTinyEva } from './fixtures/tiny-eva.js';
import { python, torchUnavailableReason } from './fixtures/torch.js';

const skipReason = torchUnavailableReason();
if (skipReason !== undefined) console.warn(`[skipped] PyTorch EVA-CLIP reference checks: ${skipReason}`);

const sentences = ['a photo of a cat', 'red apple', 'a dog and a bird'];
/** Sequence positions where the prompt tests insert tokens: before the class token, right after it, and between patches. */
const promptPositions = [0, 1, 7];

interface Reference {
  text: number[][];
  image: number[][];
  prompted: number[][][];
  rope_cos: number[][];
  rope_sin: number[][];
}

function maxDiff(a: tf.Tensor, b: number[][]): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, tf.tensor2d(b)))).dataSync()[0] as number);
}

describe.skipIf(skipReason !== undefined)('EVA-CLIP against an independent PyTorch forward pass', () => {
  let folder: string;
  let config: EvaClipConfig;
  let backbone: EvaClipBackbone;
  let pixels: tf.Tensor4D;
  let promptTokens: tf.Tensor2D;
  let reference: Reference;

  // One Python run computes every reference output, because starting torch takes about a second.
  beforeAll(async () => {
    ({ folder, config } = await writeTinyEva('eva-clip', { seed: 21 }));
    backbone = await loadEvaBackbone(folder);
    pixels = randomPixels(2, config.vision.imageSize, 5);
    promptTokens = tf.randomNormal([3, config.vision.width], 0, 1, 'float32', 17) as tf.Tensor2D;

    const batch = backbone.tokenize(sentences);
    const request = {
      ids: Array.from({ length: batch.n }, (_, i) => Array.from(batch.ids.slice(i * batch.contextLength, (i + 1) * batch.contextLength))),
      pixels: pixels.arraySync(),
      heads: { text: config.text.heads, vision: config.vision.heads },
      activation: config.text.activation,
      rope_reference_grid: config.vision.ropeReferenceGrid,
      prompts: promptPositions.map((at) => ({ tokens: promptTokens.arraySync(), at })),
    };
    const requestPath = join(folder, 'request.json');
    await writeFile(requestPath, JSON.stringify(request));
    const run = spawnSync(python, [join(__dirname, 'reference', 'eva_reference.py'), join(folder, 'open_clip_model.safetensors'), requestPath], {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    if (run.status !== 0) throw new Error(`eva_reference.py failed: ${run.stderr}`);
    reference = JSON.parse(run.stdout) as Reference;
  });

  afterAll(async () => {
    tf.dispose([pixels, promptTokens]);
    backbone.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  it('agrees on text features within 1e-4', () => {
    const text = backbone.encodeText(backbone.tokenize(sentences));
    expect(maxDiff(text, reference.text)).toBeLessThan(1e-4);
    text.dispose();
  });

  it('agrees on image features within 1e-4', () => {
    const image = backbone.encodeImage(pixels);
    expect(maxDiff(image, reference.image)).toBeLessThan(1e-4);
    image.dispose();
  });

  it('computes the same rotary tables', () => {
    const tables = evaRopeTables(config.vision);
    const cos = tf.tensor2d(tables.cos, [tables.rows, tables.headWidth]);
    const sin = tf.tensor2d(tables.sin, [tables.rows, tables.headWidth]);
    expect(maxDiff(cos, reference.rope_cos)).toBeLessThan(1e-6);
    expect(maxDiff(sin, reference.rope_sin)).toBeLessThan(1e-6);
    tf.dispose([cos, sin]);
  });

  promptPositions.forEach((at, i) => {
    it(`agrees with a vision prompt inserted at ${at}`, () => {
      const image = backbone.encodeImage(pixels, { inputPrompt: () => ({ tokens: promptTokens, at, mode: 'insert' }) });
      expect(maxDiff(image, reference.prompted[i] as number[][])).toBeLessThan(1e-4);
      image.dispose();
    });
  });
});
