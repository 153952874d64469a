import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { searchGrid } from '../src/adapters/adapter/cache.js';
import { tipAdapter, tipAdapterF, type TipAdapterConfig } from '../src/adapters/adapter/tip-adapter.js';
import { FeatureCache, cosineLogits } from '../src/adapters/features.js';
import { resolveConfig } from '../src/adapters/registry.js';
import { loadModule, saveModule } from '../src/adapters/save.js';
import type { TuningMethod, TuningModule } from '../src/adapters/types.js';
import type { ClipBackbone } from '../src/backbones/clip/model.js';
import type { Backbone } from '../src/backbones/types.js';
import { createLogger, getLogger, setLogger } from '../src/runtime/logger.js';
import { createRandom } from '../src/runtime/random.js';
import { accuracy, predict } from '../src/training/predict.js';
import type { TensorImageSource } from '../src/training/tensor-source.js';
import { encodeImages, trainModule } from '../src/training/train.js';
import { tinyBackbone, tinyClassNames, tinyTask } from './fixtures/tiny-task.js';

const template = 'a photo of a {}.';
// At Tip-Adapter's fixed scale of 100 the tiny backbone's zero-shot logits differ by tens between classes,
// far more than the cache's at most one per training example at alpha 1, so the training tests weight the
// cache more.
const strongCache = { alpha: 20 };

let backbone: ClipBackbone;
let target: ClipBackbone;
let data: TensorImageSource;
let features: FeatureCache;
let tensorsBefore: number;

beforeAll(() => {
  backbone = tinyBackbone(1);
  target = tinyBackbone(2);
  data = tinyTask(4);
});

afterAll(() => {
  backbone.dispose();
  target.dispose();
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

function create(method: TuningMethod<TipAdapterConfig>, config: unknown = {}, on: Backbone = backbone, classNames: readonly string[] = tinyClassNames): TuningModule {
  return method.create({ backbone: on, classNames, config: resolveConfig(method, config), random: createRandom(1), template });
}

/** Fits a module on the tiny task's frozen features, as trainModule does. */
async function fitOnTask(module: TuningModule): Promise<void> {
  const all = Array.from({ length: data.size }, (_, i) => i);
  const imageFeatures = await encodeImages(backbone, data, all);
  await module.fit?.({ backbone, features, training: false }, { imageFeatures, labels: data.labels });
  imageFeatures.dispose();
}

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

/** A backbone whose text tower returns fixed class features; enough for modules that read frozen features. */
function fixedTextBackbone(textRows: number[][]): Backbone {
  const embedDim = (textRows[0] as number[]).length;
  return {
    identity: { family: 'test', name: 'fixed-text', revision: 'test', weightsSha256: '0'.repeat(64) },
    dims: { embedDim },
    tokenizer: { source: { kind: 'test', sha256: '0'.repeat(64) } },
    logitScale: 100,
    tokenize: (texts: readonly string[]) => ({ n: texts.length }),
    encodeText: () => tf.tensor2d(textRows),
  } as unknown as Backbone;
}

describe('tip-adapter logits', () => {
  it('match the formula on hand-computed tensors', async () => {
    const fixed = fixedTextBackbone([
      [1, 0],
      [0, 1],
    ]);
    const module = create(tipAdapter, { alpha: 2, beta: 3 }, fixed, ['a', 'b']);
    const trainFeatures = tf.tensor2d([
      [2, 0],
      [0, 3],
      [1, 1],
    ]);
    await module.fit?.({ backbone: fixed, features, training: false }, { imageFeatures: trainFeatures, labels: Int32Array.from([0, 1, 0]) });
    const query = tf.tensor2d([[3, 4]]);
    const logits = module.logits({ backbone: fixed, features, training: false }, { imageFeatures: query });

    // Normalized query [0.6, 0.8]; normalized keys [1, 0], [0, 1], [1, 1]/√2.
    const affinities = [0.6, 0.8, 1.4 / Math.SQRT2];
    const weight = (a: number) => Math.exp(-3 * (1 - a));
    const expected = [100 * 0.6 + 2 * (weight(affinities[0] as number) + weight(affinities[2] as number)), 100 * 0.8 + 2 * weight(affinities[1] as number)];
    const values = logits.dataSync();
    expect(values[0]).toBeCloseTo(expected[0] as number, 4);
    expect(values[1]).toBeCloseTo(expected[1] as number, 4);
    tf.dispose([trainFeatures, query, logits]);
    module.dispose();
  });

  it('equal zero-shot at alpha zero', async () => {
    const module = create(tipAdapter, { alpha: 0 });
    await fitOnTask(module);
    const batch = await encodeImages(backbone, data, [0, 3, 7, 12]);
    const logits = module.logits({ backbone, features, training: false }, { imageFeatures: batch });
    const zeroShot = cosineLogits(batch, features.zeroShotClassifier(backbone, tinyClassNames, template), 100);
    expect(maxDifference(logits, zeroShot)).toBeLessThan(1e-4);
    tf.dispose([batch, logits, zeroShot]);
    module.dispose();
  });

  it('reject an empty cache', () => {
    const module = create(tipAdapter);
    const batch = tf.zeros([1, 16]) as tf.Tensor2D;
    expect(() => module.logits({ backbone, features, training: false }, { imageFeatures: batch })).toThrow(/empty cache; fit it on training features first/);
    batch.dispose();
    module.dispose();
  });

  it('reject features of another width', async () => {
    const module = create(tipAdapter);
    await fitOnTask(module);
    const narrow = tf.zeros([2, 8]) as tf.Tensor2D;
    expect(() => module.logits({ backbone, features, training: false }, { imageFeatures: narrow })).toThrow(/cache keys \[16,16\] expect 16-dimensional features.*gives 8-dimensional/);
    narrow.dispose();
    module.dispose();
  });

  it('compare target features with source keys', async () => {
    const module = create(tipAdapter);
    await fitOnTask(module);
    const batch = await encodeImages(target, data, [0, 5]);
    const logits = module.logits({ backbone: target, features, training: false }, { imageFeatures: batch });
    const expected = tf.tidy(() => {
      const keys = module.buffers().get('cache.keys') as tf.Tensor2D;
      const values = module.buffers().get('cache.values') as tf.Tensor2D;
      const query = tf.div(batch, tf.norm(batch, 2, 1, true));
      const zeroShot = tf.mul(tf.matMul(query, features.zeroShotClassifier(target, tinyClassNames, template), false, true), 100);
      return tf.add(zeroShot, tf.matMul(tf.exp(tf.mul(tf.sub(tf.matMul(query, keys, false, true), 1), 5.5)), values));
    });
    expect(maxDifference(logits, expected)).toBeLessThan(1e-3);
    tf.dispose([batch, logits, expected]);
    module.dispose();
  });
});

describe('tip-adapter fit', () => {
  it('stores normalized keys and one-hot values', async () => {
    const module = create(tipAdapter);
    await fitOnTask(module);
    const keys = module.buffers().get('cache.keys') as tf.Tensor2D;
    const values = module.buffers().get('cache.values') as tf.Tensor2D;
    const norms = tf.tidy(() => tf.norm(keys, 2, 1).arraySync() as number[]);
    expect(norms.every((n) => Math.abs(n - 1) < 1e-5)).toBe(true);
    expect(tf.tidy(() => tf.argMax(values, 1).arraySync())).toEqual([...data.labels]);
    expect(module.parameters().size).toBe(0);
    module.dispose();
  });

  it('beats zero-shot on the training set', async () => {
    const zeroShot = await predict(undefined, backbone, features, data, { classNames: tinyClassNames, template });
    const module = create(tipAdapter, strongCache);
    const report = await trainModule(module, backbone, features, data, { method: tipAdapter as unknown as TuningMethod<unknown>, seed: 1 });
    const fitted = await predict(module, backbone, features, data);
    expect(accuracy(fitted.predictions, data.labels)).toBeGreaterThan(accuracy(zeroShot.predictions, data.labels));
    expect(report.steps).toBe(0);
    module.dispose();
  });

  it('rejects a label outside the classes', async () => {
    const module = create(tipAdapter);
    const imageFeatures = tf.zeros([2, 16]) as tf.Tensor2D;
    await expect(module.fit?.({ backbone, features, training: false }, { imageFeatures, labels: Int32Array.from([0, 4]) })).rejects.toThrow(/label 4 of example 1 is not a class index in \[0, 4\)/);
    imageFeatures.dispose();
    module.dispose();
  });

  it('searches alpha and beta on validation', async () => {
    const module = create(tipAdapter, { search: true, searchSteps: [10, 5] });
    const validationData = tinyTask(4, 3, 0.8);
    const all = Array.from({ length: data.size }, (_, i) => i);
    const [imageFeatures, validationFeatures] = [await encodeImages(backbone, data, all), await encodeImages(backbone, validationData, all)];
    await module.fit?.({ backbone, features, training: false }, { imageFeatures, labels: data.labels, validation: { imageFeatures: validationFeatures, labels: validationData.labels } });
    const searched = (module.config as TipAdapterConfig).searched;
    expect(searchGrid(7, 10)).toContain(searched?.beta);
    expect(searchGrid(3, 5)).toContain(searched?.alpha);
    tf.dispose([imageFeatures, validationFeatures]);
    validationData.dispose();
    module.dispose();
  });

  it('warns when search has no validation', async () => {
    const lines: string[] = [];
    const previous = getLogger();
    setLogger(createLogger('warn', (line) => lines.push(line)));
    const module = create(tipAdapter, { search: true });
    await fitOnTask(module);
    setLogger(previous);
    expect(lines.join('\n')).toMatch(/search is on but fit received no validation split; keeping alpha 1 and beta 5.5/);
    expect((module.config as TipAdapterConfig).searched).toBeNull();
    module.dispose();
  });
});

describe('tip-adapter-f training', () => {
  const method = tipAdapterF as unknown as TuningMethod<unknown>;

  it('trains the keys after fit', async () => {
    const module = create(tipAdapterF);
    expect(module.trainAfterFit).toBe(true);
    await fitOnTask(module);
    const keys = module.parameters().get('cache.keys') as tf.Variable;
    const before = Float32Array.from(keys.dataSync() as Float32Array);
    await trainModule(module, backbone, features, data, { method, seed: 1, epochs: 3, batchSize: 8, learningRate: 0.01 });
    const after = (module.parameters().get('cache.keys') as tf.Variable).dataSync() as Float32Array;
    expect(after.some((v, i) => v !== before[i])).toBe(true);
    module.dispose();
  });

  it('beats zero-shot on the training set', async () => {
    const zeroShot = await predict(undefined, backbone, features, data, { classNames: tinyClassNames, template });
    const module = create(tipAdapterF);
    await trainModule(module, backbone, features, data, { method, seed: 1, epochs: 20, batchSize: 8, learningRate: 0.01 });
    const trained = await predict(module, backbone, features, data);
    expect(accuracy(trained.predictions, data.labels)).toBeGreaterThan(accuracy(zeroShot.predictions, data.labels));
    module.dispose();
  });

  it('leaves backbone weights and cache values unchanged', async () => {
    const snapshot = () => new Map([...backbone.weights()].map(([name, tensor]) => [name, Float32Array.from(tensor.dataSync() as Float32Array)]));
    const before = snapshot();
    const module = create(tipAdapterF);
    await fitOnTask(module);
    const valuesBefore = Float32Array.from((module.buffers().get('cache.values') as tf.Tensor).dataSync() as Float32Array);
    await trainModule(module, backbone, features, data, { method, seed: 2, epochs: 3, batchSize: 8, learningRate: 0.01 });
    const changed = [...snapshot()].filter(([name, values]) => !(before.get(name) as Float32Array).every((v, i) => Object.is(v, values[i])));
    expect(changed.map(([name]) => name)).toEqual([]);
    expect([...((module.buffers().get('cache.values') as tf.Tensor).dataSync() as Float32Array)]).toEqual([...valuesBefore]);
    module.dispose();
  });
});

describe('tip-adapter save and load', () => {
  for (const method of [tipAdapter, tipAdapterF]) {
    it(`reloads ${method.name} with identical logits`, async () => {
      const folder = await mkdtemp(join(tmpdir(), `vlm-compat-${method.name}-`));
      const module = create(method);
      await fitOnTask(module);
      const manifest = await saveModule(module, folder);
      const { module: loaded } = await loadModule(folder);
      const batch = await encodeImages(backbone, data, [1, 6, 11]);
      const context = { backbone, features, training: false };
      const [a, b] = [module.logits(context, { imageFeatures: batch }), loaded.logits(context, { imageFeatures: batch })];
      expect(maxDifference(a, b)).toBe(0);
      expect(manifest.source.identity).toEqual(backbone.identity);
      expect(manifest.tensors.map((entry) => `${entry.name}:${entry.role}`).sort()).toEqual(
        method === tipAdapter ? ['cache.keys:buffer', 'cache.values:buffer'] : ['cache.keys:parameter', 'cache.values:buffer'],
      );
      tf.dispose([a, b, batch]);
      module.dispose();
      loaded.dispose();
      await rm(folder, { recursive: true });
    });
  }

  it('reloads an unfitted module unfitted', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'vlm-compat-tip-unfitted-'));
    const module = create(tipAdapter);
    await saveModule(module, folder);
    const { module: loaded } = await loadModule(folder);
    expect(loaded.buffers().size).toBe(0);
    module.dispose();
    loaded.dispose();
    await rm(folder, { recursive: true });
  });
});

describe('tip-adapter config', () => {
  it('names an invalid beta', () => {
    expect(() => resolveConfig(tipAdapter, { beta: -1 })).toThrow(/beta = -1, expected a number >= 0/);
  });

  it('names invalid search steps', () => {
    expect(() => resolveConfig(tipAdapterF, { searchSteps: [0, 20] })).toThrow(/searchSteps.0 = 0, expected a positive integer/);
  });

  it('defaults to the paper values', () => {
    const config = resolveConfig(tipAdapter, {});
    expect([config.alpha, config.beta, config.search]).toEqual([1, 5.5, false]);
  });
});
