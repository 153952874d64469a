import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FeatureCache } from '../src/adapters/features.js';
import { cocoop } from '../src/adapters/prompt/cocoop.js';
import { coop } from '../src/adapters/prompt/coop.js';
import { resolveConfig } from '../src/adapters/registry.js';
import { loadModule, saveModule } from '../src/adapters/save.js';
import type { ModuleContext, TuningMethod, TuningModule } from '../src/adapters/types.js';
import type { ClipBackbone } from '../src/backbones/clip/model.js';
import type { Backbone } from '../src/backbones/types.js';
import { createRandom } from '../src/runtime/random.js';
import { accuracy, predict } from '../src/training/predict.js';
import type { TensorImageSource } from '../src/training/tensor-source.js';
import { trainModule } from '../src/training/train.js';
import { tinyBackbone, tinyClassNames, tinyTask } from './fixtures/tiny-task.js';

const template = 'a photo of a {}.';
const method = cocoop as unknown as TuningMethod<unknown>;

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
  return cocoop.create({ backbone, classNames: tinyClassNames, config: resolveConfig(cocoop, config), random: createRandom(seed), template });
}

function context(on: Backbone = backbone, training = false): ModuleContext {
  return { backbone: on, features, training };
}

async function imageFeatures(): Promise<tf.Tensor2D> {
  const pixels = await data.images([0, 1, 5, 9, 14], 16);
  const encoded = backbone.encodeImage(pixels);
  pixels.dispose();
  return encoded;
}

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

function withoutSharedPrefix(on: ClipBackbone): Backbone {
  const plain = Object.create(on) as ClipBackbone;
  Object.defineProperty(plain, 'encodeTextWithSharedPrefix', { value: undefined });
  return plain;
}

function weightSnapshot(): Map<string, Float32Array> {
  return new Map([...backbone.weights()].map(([name, tensor]) => [name, Float32Array.from(tensor.dataSync() as Float32Array)]));
}

describe('cocoop module', () => {
  it('has a meta-net of a sixteenth width', () => {
    const module = create({ reduction: 4 });
    const shapes = [...module.parameters()].map(([name, v]) => `${name} [${v.shape}]`);
    expect(shapes).toEqual([
      'context [4,32]',
      'meta_net.linear1.weight [16,4]',
      'meta_net.linear1.bias [4]',
      'meta_net.linear2.weight [4,32]',
      'meta_net.linear2.bias [32]',
    ]);
    module.dispose();
  });

  it('equals coop when the meta-net output is zero', async () => {
    const module = create();
    const plain = coop.create({ backbone, classNames: tinyClassNames, config: resolveConfig(coop, { init: 'a photo of a' }), random: createRandom(1), template });
    const parameters = module.parameters();
    tf.tidy(() => {
      for (const name of ['meta_net.linear2.weight', 'meta_net.linear2.bias']) parameters.get(name)?.assign(tf.zerosLike(parameters.get(name) as tf.Variable));
    });
    const batch = await imageFeatures();
    const [a, b] = [module.logits(context(), { imageFeatures: batch }), plain.logits(context(), { imageFeatures: batch })];
    expect(maxDifference(a, b)).toBeLessThan(1e-4);
    tf.dispose([batch, a, b]);
    module.dispose();
    plain.dispose();
  });

  it('conditions the prompts on each image', async () => {
    const module = create({ reduction: 4 }, 2);
    const batch = await imageFeatures();
    const together = module.logits(context(), { imageFeatures: batch });
    const alone = tf.tidy(() => {
      const rows = [0, 1, 2, 3, 4].map((i) => module.logits(context(), { imageFeatures: tf.slice(batch, [i, 0], [1, -1]) as tf.Tensor2D }));
      return tf.concat(rows, 0);
    });
    expect(maxDifference(together, alone)).toBeLessThan(1e-4);
    tf.dispose([batch, together, alone]);
    module.dispose();
  });

  it('gives the same logits without the shared prefix', async () => {
    const module = create({ reduction: 4 }, 3);
    const batch = await imageFeatures();
    const fast = module.logits(context(), { imageFeatures: batch });
    const plain = module.logits(context(withoutSharedPrefix(backbone)), { imageFeatures: batch });
    expect(maxDifference(fast, plain)).toBeLessThan(1e-4);
    tf.dispose([batch, fast, plain]);
    module.dispose();
  });

  it('rejects image features of another width', () => {
    const module = create();
    const narrow = tf.zeros([2, 8]) as tf.Tensor2D;
    expect(() => module.logits(context(), { imageFeatures: narrow })).toThrow(/meta-net weights \[16,1\] expect 16-dimensional image features, but the batch has 8-dimensional ones/);
    narrow.dispose();
    module.dispose();
  });
});

describe('cocoop training', () => {
  it('beats zero-shot on the training set', async () => {
    const zeroShot = await predict(undefined, backbone, features, data, { classNames: tinyClassNames, template });
    const module = create({ init: 'random', reduction: 4 });
    await trainModule(module, backbone, features, data, {
      method,
      seed: 1,
      epochs: 8,
      batchSize: 8,
      optimizer: 'adamw',
      learningRate: 0.05,
      weightDecay: 0,
      warmupEpochs: 0,
      augment: false,
    });
    const trained = await predict(module, backbone, features, data);
    expect(accuracy(trained.predictions, data.labels)).toBeGreaterThan(accuracy(zeroShot.predictions, data.labels));
    module.dispose();
  });

  it('leaves backbone weights bit-identical', async () => {
    const before = weightSnapshot();
    const module = create();
    await trainModule(module, backbone, features, data, { method, seed: 2, epochs: 1, batchSize: 4, learningRate: 0.1, warmupEpochs: 0 });
    const changed = [...weightSnapshot()].filter(([name, values]) => !(before.get(name) as Float32Array).every((v, i) => Object.is(v, values[i])));
    expect(changed.map(([name]) => name)).toEqual([]);
    module.dispose();
  });

  it('changes every parameter', async () => {
    const module = create({ reduction: 4 });
    const before = [...module.parameters().values()].map((v) => Float32Array.from(v.dataSync() as Float32Array));
    await trainModule(module, backbone, features, data, { method, seed: 3, epochs: 1, batchSize: 4, learningRate: 0.1, warmupEpochs: 0 });
    const after = [...module.parameters().values()].map((v) => v.dataSync() as Float32Array);
    expect(after.map((values, i) => values.some((v, j) => v !== before[i]?.[j]))).toEqual([true, true, true, true, true]);
    module.dispose();
  });
});

describe('cocoop save and load', () => {
  it('reloads with identical logits', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'vlm-compat-cocoop-'));
    const module = create({ reduction: 4 }, 4);
    const manifest = await saveModule(module, folder);
    const { module: loaded } = await loadModule(folder);
    const batch = await imageFeatures();
    const [a, b] = [module.logits(context(), { imageFeatures: batch }), loaded.logits(context(), { imageFeatures: batch })];
    expect(maxDifference(a, b)).toBe(0);
    expect(manifest.source.identity).toEqual(backbone.identity);
    expect(loaded.config).toEqual({ contextTokens: 4, init: 'a photo of a', reduction: 4 });
    tf.dispose([a, b, batch]);
    module.dispose();
    loaded.dispose();
    await rm(folder, { recursive: true });
  });
});

describe('cocoop config', () => {
  it('names an invalid reduction', () => {
    expect(() => resolveConfig(cocoop, { reduction: 0.5 })).toThrow(/reduction = 0.5, expected a positive integer/);
  });

  it('rejects a reduction wider than the features', () => {
    expect(() => create({ reduction: 32 })).toThrow(/reduction 32 leaves no hidden units for 16-dimensional image features/);
  });
});
