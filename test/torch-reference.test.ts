import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadClipBackbone } from '../src/backbones/clip/load.js';
import { randomPixels, writeTinyClip } from './fixtures/tiny-clip.js';
import { python, torchUnavailableReason } from './fixtures/torch.js';

const skipReason = torchUnavailableReason();
if (skipReason !== undefined) console.warn(`[skipped] PyTorch reference checks: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('CLIP against an independent PyTorch forward pass', () => {
  for (const activation of ['quick_gelu', 'gelu'] as const) {
    it(`agrees within 1e-4 with ${activation}`, async () => {
      const { folder, config } = await writeTinyClip('openai', { activation, seed: 21 });
      const backbone = await loadClipBackbone(folder);
      const batch = backbone.tokenize(['a photo of a cat', 'red apple', 'a dog and a bird']);
      const pixels = randomPixels(2, config.vision.imageSize, 5);

      const text = backbone.encodeText(batch);
      const image = backbone.encodeImage(pixels);
      const ids = Array.from({ length: batch.n }, (_, i) => Array.from(batch.ids.slice(i * batch.contextLength, (i + 1) * batch.contextLength)));
      const request = { ids, pixels: pixels.arraySync(), heads: { text: config.text.heads, vision: config.vision.heads }, activation };
      const requestPath = join(folder, 'request.json');
      await writeFile(requestPath, JSON.stringify(request));

      const run = spawnSync(python, [join(__dirname, 'reference', 'clip_reference.py'), join(folder, 'open_clip_model.safetensors'), requestPath], {
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      });
      expect(run.stderr).toBe('');
      const reference = JSON.parse(run.stdout) as { text: number[][]; image: number[][] };
      const textDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(text, tf.tensor2d(reference.text)))).dataSync()[0]);
      const imageDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(image, tf.tensor2d(reference.image)))).dataSync()[0]);
      expect(textDiff).toBeLessThan(1e-4);
      expect(imageDiff).toBeLessThan(1e-4);

      tf.dispose([text, image, pixels]);
      backbone.dispose();
      await rm(folder, { recursive: true, force: true });
    });
  }
});
