import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureCache } from '../src/adapters/features.js';
import { getMethod, registerMethod, resolveConfig } from '../src/adapters/registry.js';
import { loadModule, saveModule } from '../src/adapters/save.js';
import type { TuningMethod } from '../src/adapters/types.js';
import { createRandom } from '../src/runtime/random.js';
import { adamw, cosineWithWarmup, sgd } from '../src/training/optimizers.js';
import { accuracy, predict } from '../src/training/predict.js';
import { sampleFewShot } from '../src/training/sampler.js';
import { trainModule } from '../src/training/train.js';
import { TrainingDivergedError } from '../src/training/types.js';
import { featureScaleMethod } from '../examples/custom-module.js';
import { tinyBackbone, tinyClassNames, tinyTask } from './fixtures/tiny-task.js';
import type { ClipBackbone } from '../src/backbones/clip/model.js';
import type { TensorImageSource } from '../src/training/tensor-source.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const method = featureScaleMethod as unknown as TuningMethod<unknown>;
const template = 'a photo of a {}.';
let backbone: ClipBackbone;
let data: TensorImageSource;

beforeAll(() => {
  registerMethod(featureScaleMethod);
  backbone = tinyBackbone(1);
  data = tinyTask(4);
});

afterAll(() => {
  backbone.dispose();
  data.dispose();
});

function create(seed = 0) {
  return method.create({ backbone, classNames: tinyClassNames, config: resolveConfig(method, {}), random: createRandom(seed), template });
}

describe('K-shot sampler', () => {
  it('draws the same indices for the same seed', () => {
    const labels = [0, 1, 0, 1, 0, 1, 0, 1, 2, 2];
    const a = sampleFewShot(labels, 3, 2, createRandom(5));
    const b = sampleFewShot(labels, 3, 2, createRandom(5));
    expect(a.indices).toEqual(b.indices);
  });

  it('takes shots per class and lists short classes', () => {
    const labels = [0, 1, 0, 1, 0, 1, 0, 1, 2];
    const sample = sampleFewShot(labels, 3, 2, createRandom(1));
    expect(sample.indices.map((i) => labels[i])).toEqual([0, 0, 1, 1, 2]);
    expect(sample.shortClasses).toEqual([{ label: 2, available: 1 }]);
  });

  it('rejects zero shots', () => {
    expect(() => sampleFewShot([0], 1, 0, createRandom(1))).toThrow(/positive integer.*1, 2, 4, 8, 16/);
  });
});

describe('optimizers and schedule', () => {
  it('applies SGD with momentum as torch does', () => {
    const x = tf.variable(tf.tensor1d([1]));
    const optimizer = sgd(new Map([['x', x]]), 0.9, 0);
    const gradient = tf.tensor1d([2]);
    optimizer.step(new Map([['x', gradient]]), 0.1); // v = 2, x = 1 - 0.2
    optimizer.step(new Map([['x', gradient]]), 0.1); // v = 0.9 * 2 + 2 = 3.8, x = 0.8 - 0.38
    expect(x.dataSync()[0]).toBeCloseTo(0.42, 6);
    optimizer.dispose();
    tf.dispose([x, gradient]);
  });

  it('applies AdamW decoupled decay', () => {
    const x = tf.variable(tf.tensor1d([1]));
    const optimizer = adamw(new Map([['x', x]]), 0.1);
    const gradient = tf.tensor1d([0.5]);
    optimizer.step(new Map([['x', gradient]]), 0.01); // first Adam step moves by lr·sign(g); decay multiplies by 1 - lr·wd
    expect(x.dataSync()[0]).toBeCloseTo(1 * (1 - 0.001) - 0.01, 5);
    optimizer.dispose();
    tf.dispose([x, gradient]);
  });

  it('warms up then decays to zero', () => {
    expect(cosineWithWarmup(0, 10, 0.002, 2, 1e-5)).toBe(1e-5);
    expect(cosineWithWarmup(2, 10, 0.002, 2, 1e-5)).toBeCloseTo(0.002, 10);
    expect(cosineWithWarmup(10, 10, 0.002, 2, 1e-5)).toBeCloseTo(0, 10);
  });
});

describe('trainModule', () => {
  it('beats zero-shot on the training set and changes no backbone weight', async () => {
    const features = new FeatureCache();
    const weightsBefore = new Map([...backbone.weights()].map(([name, t]) => [name, t.dataSync().slice()]));
    const zeroShot = await predict(undefined, backbone, features, data, { classNames: tinyClassNames, template });
    const module = create();
    const before = tf.memory().numTensors;
    const events: number[] = [];
    const report = await trainModule(module, backbone, features, data, { method, seed: 1, epochs: 30, onProgress: (e) => events.push(e.loss) });
    const trained = await predict(module, backbone, features, data);
    expect(tf.memory().numTensors).toBe(before);
    expect(accuracy(trained.predictions, data.labels)).toBeGreaterThan(accuracy(zeroShot.predictions, data.labels));
    expect(events.length).toBe(report.steps);
    expect(report.examplesSeen).toBe(30 * data.size);
    expect(report.trainableParameters).toBe(16);
    for (const [name, t] of backbone.weights()) expect(t.dataSync(), name).toEqual(weightsBefore.get(name));
    module.dispose();
    features.dispose();
  });

  it('gives the same module for the same seed', async () => {
    const features = new FeatureCache();
    const a = create();
    const b = create();
    await trainModule(a, backbone, features, data, { method, seed: 7, epochs: 3, views: 2 });
    await trainModule(b, backbone, features, data, { method, seed: 7, epochs: 3, views: 2 });
    expect(a.parameters().get('scale')!.dataSync()).toEqual(b.parameters().get('scale')!.dataSync());
    a.dispose();
    b.dispose();
    features.dispose();
  });

  it('matches training without the frozen-feature cache', async () => {
    const features = new FeatureCache();
    const cached = create();
    const recomputed = create();
    await trainModule(cached, backbone, features, data, { method, seed: 3, epochs: 3, views: 2 });
    await trainModule(recomputed, backbone, features, data, { method, seed: 3, epochs: 3, views: 2, cacheFrozenFeatures: false });
    const a = cached.parameters().get('scale')!.dataSync();
    const b = recomputed.parameters().get('scale')!.dataSync();
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-5);
    cached.dispose();
    recomputed.dispose();
    features.dispose();
  });

  it('stops with a clear error when the loss is NaN', async () => {
    const features = new FeatureCache();
    const module = create();
    module.parameters().get('scale')!.assign(tf.fill([16], Number.NaN));
    const before = tf.memory().numTensors;
    await expect(trainModule(module, backbone, features, data, { method, seed: 1, epochs: 1 })).rejects.toThrow(TrainingDivergedError);
    await expect(trainModule(module, backbone, features, data, { method, seed: 1, epochs: 1 })).rejects.toThrow(/diverged.*epoch 0, step 0.*Lower the learning rate/);
    features.dispose();
    expect(tf.memory().numTensors).toBe(before);
    module.dispose();
  });

  it('rejects an invalid batch size', async () => {
    const features = new FeatureCache();
    const module = create();
    await expect(trainModule(module, backbone, features, data, { method, seed: 1, batchSize: 0 })).rejects.toThrow(/batchSize = 0/);
    module.dispose();
    features.dispose();
  });
});

describe('module registry and files', () => {
  it('suggests the closest method name', () => {
    expect(() => getMethod('feature-scal')).toThrow(/Did you mean "feature-scale"\?/);
  });

  it('rejects a second registration of a name', () => {
    expect(() => registerMethod(featureScaleMethod)).toThrow(/already registered/);
  });

  it('names the invalid config field', () => {
    expect(() => resolveConfig(method, { initialScale: 'big' })).toThrow(/initialScale = "big", expected number/);
  });

  it('saves and loads identical logits with the source recorded', async () => {
    const features = new FeatureCache();
    const module = create();
    await trainModule(module, backbone, features, data, { method, seed: 1, epochs: 2 });
    const folder = await mkdtemp(join(tmpdir(), 'vlm-compat-module-'));
    await saveModule(module, folder);
    const { module: loaded, manifest } = await loadModule(folder);
    const fromFile = await loadModule(join(folder, 'module.safetensors'));
    expect(manifest.source.identity.weightsSha256).toBe(backbone.identity.weightsSha256);
    expect(manifest.source.tokenizer.sha256).toBe(backbone.tokenizer.source.sha256);
    const a = await predict(module, backbone, features, data);
    const b = await predict(loaded, backbone, features, data);
    const c = await predict(fromFile.module, backbone, features, data);
    expect(b.logits).toEqual(a.logits);
    expect(c.logits).toEqual(a.logits);
    [module, loaded, fromFile.module].forEach((m) => m.dispose());
    features.dispose();
    await rm(folder, { recursive: true, force: true });
  });
});
