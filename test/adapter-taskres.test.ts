import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { taskRes } from '../src/adapters/adapter/taskres.js';
import { FeatureCache, cosineLogits, fillTemplate } from '../src/adapters/features.js';
import { getMethod, resolveConfig } from '../src/adapters/registry.js';
import { loadModule, saveModule } from '../src/adapters/save.js';
import type { TuningMethod, TuningModule } from '../src/adapters/types.js';
import type { ClipBackbone } from '../src/backbones/clip/model.js';
import { createRandom } from '../src/runtime/random.js';
import { accuracy, predict } from '../src/training/predict.js';
import type { TensorImageSource } from '../src/training/tensor-source.js';
import { encodeImages, trainModule } from '../src/training/train.js';
import { tinyBackbone, tinyClassNames, tinyTask } from './fixtures/tiny-task.js';

const template = 'a photo of a {}.';
const method = taskRes as unknown as TuningMethod<unknown>;
// A larger learning rate than the official 0.002 makes a few epochs enough on the tiny task.
const quickTraining = { epochs: 30, batchSize: 4, learningRate: 0.05 };

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

function create(config: unknown = {}): TuningModule {
  return taskRes.create({ backbone, classNames: tinyClassNames, config: resolveConfig(taskRes, config), random: createRandom(1), template });
}

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

describe('taskres logits', () => {
  it('equal zero-shot with a zero residual', async () => {
    const module = create();
    const batch = await encodeImages(backbone, data, [0, 4, 8, 12]);
    const logits = module.logits({ backbone, features, training: false }, { imageFeatures: batch });
    const zeroShot = cosineLogits(batch, features.zeroShotClassifier(backbone, tinyClassNames, template), backbone.logitScale);
    expect(maxDifference(logits, zeroShot)).toBeLessThan(1e-5);
    tf.dispose([batch, logits, zeroShot]);
    module.dispose();
  });

  it("add the residual to the target's text features", async () => {
    const module = create({ residualScale: 0.5 });
    const residual = module.parameters().get('residual') as tf.Variable;
    tf.tidy(() => residual.assign(tf.randomNormal(residual.shape, 0, 0.3, 'float32', 9)));
    const batch = await encodeImages(target, data, [2, 9]);
    const logits = module.logits({ backbone: target, features, training: false }, { imageFeatures: batch });
    const expected = tf.tidy(() => {
      const prompts = tinyClassNames.map((name) => fillTemplate(template, name));
      const text = target.encodeText(target.tokenize(prompts));
      return cosineLogits(batch, tf.add(text, tf.mul(residual, 0.5)) as tf.Tensor2D, target.logitScale);
    });
    expect(maxDifference(logits, expected)).toBeLessThan(1e-5);
    tf.dispose([batch, logits, expected]);
    module.dispose();
  });

  it('reject features of another width', () => {
    const module = create();
    const narrow = tf.zeros([2, 8]) as tf.Tensor2D;
    expect(() => module.logits({ backbone, features, training: false }, { imageFeatures: narrow })).toThrow(/residual \[4,16\] expect 16-dimensional features.*gives 8-dimensional/);
    narrow.dispose();
    module.dispose();
  });
});

describe('taskres training', () => {
  it('beats zero-shot on the training set', async () => {
    const zeroShot = await predict(undefined, backbone, features, data, { classNames: tinyClassNames, template });
    const module = create();
    await trainModule(module, backbone, features, data, { method, seed: 1, ...quickTraining });
    const trained = await predict(module, backbone, features, data);
    expect(accuracy(trained.predictions, data.labels)).toBeGreaterThan(accuracy(zeroShot.predictions, data.labels));
    module.dispose();
  });

  it('leaves backbone weights bit-identical', async () => {
    const snapshot = () => new Map([...backbone.weights()].map(([name, tensor]) => [name, Float32Array.from(tensor.dataSync() as Float32Array)]));
    const before = snapshot();
    const module = create();
    await trainModule(module, backbone, features, data, { method, seed: 2, epochs: 3, batchSize: 4, learningRate: 0.05 });
    const changed = [...snapshot()].filter(([name, values]) => !(before.get(name) as Float32Array).every((v, i) => Object.is(v, values[i])));
    expect(changed.map(([name]) => name)).toEqual([]);
    module.dispose();
  });
});

describe('taskres save and load', () => {
  it('reloads with identical logits', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'vlm-compat-taskres-'));
    const module = create();
    await trainModule(module, backbone, features, data, { method, seed: 3, epochs: 2, batchSize: 4, learningRate: 0.05 });
    const manifest = await saveModule(module, folder);
    const { module: loaded } = await loadModule(folder);
    const batch = await encodeImages(backbone, data, [3, 10]);
    const context = { backbone, features, training: false };
    const [a, b] = [module.logits(context, { imageFeatures: batch }), loaded.logits(context, { imageFeatures: batch })];
    expect(maxDifference(a, b)).toBe(0);
    expect(manifest.source.identity).toEqual(backbone.identity);
    tf.dispose([a, b, batch]);
    module.dispose();
    loaded.dispose();
    await rm(folder, { recursive: true });
  });
});

describe('taskres restore', () => {
  it('names an invalid saved config', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'vlm-compat-taskres-bad-'));
    const module = create();
    await saveModule(module, folder);
    module.dispose();
    const manifestPath = join(folder, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    await writeFile(manifestPath, JSON.stringify({ ...manifest, config: { residualScale: -1 } }));
    await expect(loadModule(folder)).rejects.toThrow(/taskres: the saved manifest has an invalid config \(residualScale = -1\)/);
    await rm(folder, { recursive: true });
  });
});

describe('taskres config', () => {
  it('names an invalid residual scale', () => {
    expect(() => resolveConfig(taskRes, { residualScale: 'big' })).toThrow(/residualScale = "big", expected a number >= 0/);
  });

  it('is registered by name', () => {
    expect(getMethod('taskres')).toBe(taskRes);
  });
});
