import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import { FeatureCache } from '../src/adapters/features.js';
import { predict } from '../src/training/predict.js';
import { TensorImageSource } from '../src/training/tensor-source.js';
import { tinyBackbone, tinyClassNames } from './fixtures/tiny-task.js';

describe('predict with a shared cache', () => {
  it('encodes a named source once', async () => {
    const backbone = tinyBackbone(1);
    const data = new TensorImageSource(tf.randomNormal([6, 16, 16, 3]) as tf.Tensor4D, new Int32Array(6), 'named');
    const cache = new FeatureCache();
    const before = tf.memory().numTensors;
    const options = { classNames: tinyClassNames, template: 'a photo of a {}.' };
    const first = await predict(undefined, backbone, cache, data, options);
    const encodes = vi.spyOn(backbone, 'encodeImage');
    const second = await predict(undefined, backbone, cache, data, options);
    const calls = encodes.mock.calls.length;
    encodes.mockRestore();
    cache.dispose();
    const after = tf.memory().numTensors;
    data.dispose();
    backbone.dispose();
    expect(calls).toBe(0);
    expect(Array.from(second.predictions)).toEqual(Array.from(first.predictions));
    expect(after).toBe(before);
  });
});
