import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clipAdapter } from '../src/adapters/adapter/clip-adapter.js';
import { FeatureCache, cosineLogits } from '../src/adapters/features.js';
import { resolveConfig } from '../src/adapters/registry.js';
import { loadModule, saveModule } from '../src/adapters/save.js';
import type { TuningMethod, TuningModule } from '../src/adapters/types.js';
import type { ClipBackbone } from '../src/backbones/clip/model.js';
import { createRandom } from '../src/runtime/random.js';
import { accuracy, predict } from '../src/training/predict.js';
import type { TensorImageSource } from '../src/training/tensor-source.js';
import { trainModule } from '../src/training/train.js';
import { tinyBackbone, tinyClassNames, tinyTask } from './fixtures/tiny-task.js';

const template = 'a photo of a {}.';
const method = clipAdapter as unknown as TuningMethod<unknown>;
// The tiny backbone's logit scale is about 14, not CLIP's 100, so the official SGD learning rate of 0.002
// barely moves it in a few epochs. A larger rate keeps this test short.
const quickTraining = { epochs: 40, batchSize: 4, learningRate: 0.2 };

let backbone: ClipBackbone;
let data: TensorImageSource;
let features: FeatureCache;
let tensorsBefore: number;

beforeAll(() => {
  backbone = tinyBackbone(1);
  data = tinyTask(4);
});

afterAll(() => {
  backbone.dispose();
  data.dispose();
});

beforeEach(() => {
  tensorsBefore = tf.memory().numTensors;
  features = new FeatureCache();
});

afterEach(() => {
  features.dispose();
  expect(tf.memory().numTensors).toBe(tensorsBefore);
});

function create(config: unknown = {}, seed = 1): TuningModule {
  return clipAdapter.create({ backbone, classNames: tinyClassNames, config: resolveConfig(clipAdapter, config), random: createRandom(seed), template });
}

function imageFeatures(): Promise<tf.Tensor2D> {
  return data.images([0, 1, 5, 9, 14], 16).then((pixels) => {
    const encoded = backbone.encodeImage(pixels);
    pixels.dispose();
    return encoded;
  });
}

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

function weightSnapshot(): Map<string, Float32Array> {
  return new Map([...backbone.weights()].map(([name, tensor]) => [name, Float32Array.from(tensor.dataSync() as Float32Array)]));
}

describe('clip-adapter module', () => {
  it('has a bottleneck of a quarter width', () => {
    const module = create();
    const shapes = [...module.parameters()].map(([name, v]) => `${name} [${v.shape}]`);
    expect(shapes).toEqual(['adapter.down [16,4]', 'adapter.up [4,16]']);
    module.dispose();
  });

  it('equals zero-shot with a zeroed adapter', async () => {
    const module = create();
    tf.tidy(() => module.parameters().forEach((variable) => variable.assign(tf.zerosLike(variable))));
    const batch = await imageFeatures();
    const logits = module.logits({ backbone, features, training: false }, { imageFeatures: batch });
    const zeroShot = cosineLogits(batch, features.zeroShotClassifier(backbone, tinyClassNames, template), backbone.logitScale);
    expect(maxDifference(logits, zeroShot)).toBeLessThan(1e-5);
    tf.dispose([batch, logits, zeroShot]);
    module.dispose();
  });

  it('blends the adapter output by the residual ratio', async () => {
    const module = create({ residualRatio: 0.5 });
    const [down, up] = [...module.parameters().values()] as [tf.Variable, tf.Variable];
    const batch = await imageFeatures();
    const logits = module.logits({ backbone, features, training: false }, { imageFeatures: batch });
    const expected = tf.tidy(() => {
      const adapted = tf.relu(tf.matMul(tf.relu(tf.matMul(batch, down)), up));
      const blended = tf.add(tf.mul(adapted, 0.5), tf.mul(batch, 0.5)) as tf.Tensor2D;
      return cosineLogits(blended, features.zeroShotClassifier(backbone, tinyClassNames, template), backbone.logitScale);
    });
    expect(maxDifference(logits, expected)).toBeLessThan(1e-5);
    tf.dispose([batch, logits, expected]);
    module.dispose();
  });

  it('rejects features of another width', () => {
    const module = create();
    const narrow = tf.zeros([2, 8]) as tf.Tensor2D;
    expect(() => module.logits({ backbone, features, training: false }, { imageFeatures: narrow })).toThrow(/\[16,4\] expect 16-dimensional features.*gives 8-dimensional/);
    narrow.dispose();
    module.dispose();
  });

  it('rejects a batch without features', () => {
    const module = create();
    expect(() => module.logits({ backbone, features, training: false }, {})).toThrow(/clip-adapter reads frozen image features/);
    module.dispose();
  });
});

describe('clip-adapter training', () => {
  it('beats zero-shot on the training set', async () => {
    const zeroShot = await predict(undefined, backbone, features, data, { classNames: tinyClassNames, template });
    const module = create();
    await trainModule(module, backbone, features, data, { method, seed: 1, ...quickTraining });
    const trained = await predict(module, backbone, features, data);
    expect(accuracy(trained.predictions, data.labels)).toBeGreaterThan(accuracy(zeroShot.predictions, data.labels));
    module.dispose();
  });

  it('leaves backbone weights bit-identical', async () => {
    const before = weightSnapshot();
    const module = create();
    await trainModule(module, backbone, features, data, { method, seed: 2, epochs: 3, batchSize: 4, learningRate: 0.2 });
    const changed = [...weightSnapshot()].filter(([name, values]) => !(before.get(name) as Float32Array).every((v, i) => Object.is(v, values[i])));
    expect(changed.map(([name]) => name)).toEqual([]);
    module.dispose();
  });

  it('changes both adapter weights', async () => {
    const module = create();
    const before = [...module.parameters().values()].map((v) => Float32Array.from(v.dataSync() as Float32Array));
    await trainModule(module, backbone, features, data, { method, seed: 3, epochs: 2, batchSize: 4, learningRate: 0.2 });
    const after = [...module.parameters().values()].map((v) => v.dataSync() as Float32Array);
    expect(after.map((values, i) => values.some((v, j) => v !== before[i]?.[j]))).toEqual([true, true]);
    module.dispose();
  });
});

describe('clip-adapter save and load', () => {
  it('reloads with identical logits', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'vlm-compat-clip-adapter-'));
    const module = create({}, 4);
    const manifest = await saveModule(module, folder);
    const { module: loaded } = await loadModule(folder);
    const batch = await imageFeatures();
    const context = { backbone, features, training: false };
    const [a, b] = [module.logits(context, { imageFeatures: batch }), loaded.logits(context, { imageFeatures: batch })];
    expect(maxDifference(a, b)).toBe(0);
    expect(manifest.source.identity).toEqual(backbone.identity);
    expect(loaded.config).toEqual({ reduction: 4, residualRatio: 0.2 });
    tf.dispose([a, b, batch]);
    module.dispose();
    loaded.dispose();
    await rm(folder, { recursive: true });
  });
});

describe('clip-adapter config', () => {
  it('names an invalid residual ratio', () => {
    expect(() => resolveConfig(clipAdapter, { residualRatio: 2 })).toThrow(/residualRatio = 2, expected a number from 0 to 1/);
  });

  it('names an invalid reduction', () => {
    expect(() => resolveConfig(clipAdapter, { reduction: 2.5 })).toThrow(/reduction = 2.5, expected a positive integer/);
  });

  it('rejects a reduction wider than the features', () => {
    expect(() => create({ reduction: 32 })).toThrow(/reduction 32 leaves no hidden units for 16-dimensional features/);
  });
});
