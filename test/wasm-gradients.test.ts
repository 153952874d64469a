import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClipBackbone } from '../src/backbones/clip/model.js';
import { initBackend } from '../src/runtime/backend.js';
import { randomPixels } from './fixtures/tiny-clip.js';
import { tinyBackbone } from './fixtures/tiny-task.js';

let backbone: ClipBackbone;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  backbone = tinyBackbone(4);
});

afterAll(async () => {
  backbone.dispose();
  await tf.setBackend('cpu');
});

/** Gradients of a scalar of both towers with respect to text input embeddings and to a vision prompt, on the current backend. */
function gradients(): number[][] {
  return tf.tidy(() => {
    const batch = backbone.tokenize(['a photo of a cat', 'dog']);
    const embeddings = backbone.embedTokens(tf.tensor2d(batch.ids, [batch.n, batch.contextLength], 'int32'));
    const prompt = tf.fill([2, backbone.dims.visionWidth], 0.1) as tf.Tensor2D;
    const pixels = randomPixels(2, backbone.dims.imageSize, 3);
    const [textGradient, promptGradient] = tf.grads((x: tf.Tensor, p: tf.Tensor) => {
      const text = backbone.encodeTextEmbeddings(x as tf.Tensor3D, batch.eot);
      const image = backbone.encodeImage(pixels, { inputPrompt: () => ({ tokens: p as tf.Tensor2D, at: 1, mode: 'insert' }) });
      return tf.sum(tf.mul(text, image));
    })([embeddings, prompt]);
    return [Array.from(textGradient!.dataSync()), Array.from(promptGradient!.dataSync())];
  });
}

describe('training on the wasm backend', () => {
  it('backpropagates through both towers as the cpu backend does', async () => {
    expect(tf.getBackend()).toBe('wasm');
    const before = tf.memory().numTensors;
    const onWasm = gradients();
    expect(tf.memory().numTensors).toBe(before);
    await tf.setBackend('cpu');
    const onCpu = gradients();
    await tf.setBackend('wasm');
    for (const [i, values] of onWasm.entries()) {
      const reference = onCpu[i]!;
      const scale = Math.max(...reference.map(Math.abs));
      const worst = Math.max(...values.map((v, j) => Math.abs(v - reference[j]!)));
      expect(worst / scale).toBeLessThan(1e-4);
    }
  });
});
