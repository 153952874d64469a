import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FeatureCache } from '../src/adapters/features.js';
import { linearProbe, type LinearProbeConfig } from '../src/adapters/probe/linear-probe.js';
import { fitLogisticRegression, scoreLogisticRegression } from '../src/adapters/probe/logistic-regression.js';
import { stratifiedHoldOut } from '../src/adapters/probe/search.js';
import { resolveConfig } from '../src/adapters/registry.js';
import { loadModule, saveModule } from '../src/adapters/save.js';
import type { TuningMethod, TuningModule } from '../src/adapters/types.js';
import type { ClipBackbone } from '../src/backbones/clip/model.js';
import { createLogger, getLogger, setLogger } from '../src/runtime/logger.js';
import { createRandom } from '../src/runtime/random.js';
import { accuracy, predict } from '../src/training/predict.js';
import type { TensorImageSource } from '../src/training/tensor-source.js';
import { encodeImages, trainModule } from '../src/training/train.js';
import { tinyBackbone, tinyClassNames, tinyTask } from './fixtures/tiny-task.js';

const template = 'a photo of a {}.';
const method = linearProbe as unknown as TuningMethod<unknown>;

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

function create(config: unknown = {}): TuningModule {
  return linearProbe.create({ backbone, classNames: tinyClassNames, config: resolveConfig(linearProbe, config), random: createRandom(1), template });
}

function selection(module: TuningModule): LinearProbeConfig['selection'] {
  return (module.config as LinearProbeConfig).selection;
}

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

function all(source: TensorImageSource): number[] {
  return Array.from({ length: source.size }, (_, i) => i);
}

describe('logistic regression', () => {
  it('reaches the analytic optimum in one dimension', () => {
    // Two points x = ±1 of classes 0 and 1 with C = 1 and n = 2: by symmetry W = [w, −w] and b = 0, where
    // w solves w / (C·n) = sigmoid(−2w).
    let [low, high] = [0, 2];
    for (let i = 0; i < 60; i++) {
      const mid = (low + high) / 2;
      if (mid / 2 - 1 / (1 + Math.exp(2 * mid)) > 0) high = mid;
      else low = mid;
    }
    const x = tf.tensor2d([[1], [-1]]);
    const fit = fitLogisticRegression(x, Int32Array.from([0, 1]), 2, { inverseRegularization: 1, maxIterations: 100, tolerance: 1e-6 });
    x.dispose();
    expect(fit.converged).toBe(true);
    expect(fit.parameters[0]).toBeCloseTo(low, 4);
    expect(fit.parameters[1]).toBeCloseTo(-low, 4);
    expect(Math.abs(fit.parameters[2] as number)).toBeLessThan(1e-5);
  });

  it('regularizes more at smaller C', () => {
    const x = tf.tensor2d([[1, 0.2], [-1, 0.1], [0.8, -0.3], [-0.9, 0]]);
    const labels = Int32Array.from([0, 1, 0, 1]);
    const norm = (c: number) => {
      const fit = fitLogisticRegression(x, labels, 2, { inverseRegularization: c, maxIterations: 200, tolerance: 1e-6 });
      return Math.hypot(...fit.parameters.subarray(0, 4));
    };
    const [strong, weak] = [norm(0.1), norm(10)];
    x.dispose();
    expect(strong).toBeLessThan(weak);
  });

  it('scores accuracy and loss', () => {
    const x = tf.tensor2d([[1], [-1]]);
    // W = [[2, −2]], b = 0: logits ±2 and ∓2, so both examples are right with loss log(1 + e^−4).
    const score = scoreLogisticRegression(Float64Array.from([2, -2, 0, 0]), x, Int32Array.from([0, 1]), 2);
    x.dispose();
    expect(score.accuracy).toBe(1);
    expect(score.loss).toBeCloseTo(Math.log(1 + Math.exp(-4)), 5);
  });

  it('rejects a warm start of the wrong size', () => {
    const x = tf.tensor2d([[1], [-1]]);
    expect(() => fitLogisticRegression(x, Int32Array.from([0, 1]), 2, { inverseRegularization: 1, maxIterations: 1, tolerance: 1e-4, initial: new Float64Array(3) })).toThrow(
      /warm start has 3 values, expected 4/,
    );
    x.dispose();
  });
});

describe('stratified hold-out', () => {
  const labels = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3]);

  it('holds out a share of each class', () => {
    const split = stratifiedHoldOut(labels, 4, 0.25, createRandom(1));
    const counts = [0, 1, 2, 3].map((c) => split.heldOut.filter((i) => labels[i] === c).length);
    expect(counts).toEqual([1, 1, 0, 2]);
  });

  it('keeps every example exactly once', () => {
    const split = stratifiedHoldOut(labels, 4, 0.25, createRandom(1));
    expect([...split.train, ...split.heldOut].sort((a, b) => a - b)).toEqual(all({ size: labels.length } as TensorImageSource));
  });

  it('repeats for the same seed', () => {
    expect(stratifiedHoldOut(labels, 4, 0.25, createRandom(7))).toEqual(stratifiedHoldOut(labels, 4, 0.25, createRandom(7)));
  });
});

describe('linear-probe fit', () => {
  it('records the C chosen on a hold-out', async () => {
    const module = create();
    const report = await trainModule(module, backbone, features, data, { method, seed: 1 });
    const chosen = selection(module);
    expect(chosen?.by).toBe('hold-out');
    expect(chosen?.inverseRegularization).toBeGreaterThan(0);
    expect(chosen?.validationAccuracy).toBeGreaterThanOrEqual(0);
    expect(report.trainableParameters).toBe(16 * 4 + 4);
    module.dispose();
  });

  it('beats chance on unseen examples', async () => {
    const module = create();
    await trainModule(module, backbone, features, data, { method, seed: 1 });
    // tinyTask draws the class prototypes first, so more examples per class share them but add new noise.
    const unseen = tinyTask(8, 3);
    const result = await predict(module, backbone, features, unseen);
    expect(accuracy(result.predictions, unseen.labels)).toBeGreaterThan(1 / tinyClassNames.length);
    unseen.dispose();
    module.dispose();
  });

  it('beats zero-shot on the training set', async () => {
    const zeroShot = await predict(undefined, backbone, features, data, { classNames: tinyClassNames, template });
    const module = create();
    await trainModule(module, backbone, features, data, { method, seed: 1 });
    const fitted = await predict(module, backbone, features, data);
    expect(accuracy(fitted.predictions, data.labels)).toBeGreaterThan(accuracy(zeroShot.predictions, data.labels));
    module.dispose();
  });

  it('searches on a given validation split', async () => {
    const module = create();
    const validation = tinyTask(2, 3, 0.8);
    const [imageFeatures, validationFeatures] = [await encodeImages(backbone, data, all(data)), await encodeImages(backbone, validation, all(validation))];
    await module.fit?.({ backbone, features, training: false }, { imageFeatures, labels: data.labels, validation: { imageFeatures: validationFeatures, labels: validation.labels } });
    expect(selection(module)?.by).toBe('validation');
    tf.dispose([imageFeatures, validationFeatures]);
    validation.dispose();
    module.dispose();
  });

  it('uses a fixed C without search', async () => {
    const module = create({ inverseRegularization: 3 });
    await trainModule(module, backbone, features, data, { method, seed: 1 });
    expect(selection(module)).toMatchObject({ inverseRegularization: 3, by: 'fixed', validationAccuracy: null });
    module.dispose();
  });

  it('falls back to C = 1 with one example per class', async () => {
    const lines: string[] = [];
    const previous = getLogger();
    setLogger(createLogger('warn', (line) => lines.push(line)));
    const module = create();
    const oneShot = tinyTask(1);
    await trainModule(module, backbone, features, oneShot, { method, seed: 1 });
    setLogger(previous);
    expect(selection(module)).toMatchObject({ inverseRegularization: 1, by: 'fallback' });
    expect(lines.join('\n')).toMatch(/no class has two training examples/);
    oneShot.dispose();
    module.dispose();
  });

  it('leaves backbone weights bit-identical', async () => {
    const snapshot = () => new Map([...backbone.weights()].map(([name, tensor]) => [name, Float32Array.from(tensor.dataSync() as Float32Array)]));
    const before = snapshot();
    const module = create({ inverseRegularization: 1 });
    await trainModule(module, backbone, features, data, { method, seed: 1 });
    const changed = [...snapshot()].filter(([name, values]) => !(before.get(name) as Float32Array).every((v, i) => Object.is(v, values[i])));
    expect(changed.map(([name]) => name)).toEqual([]);
    module.dispose();
  });

  it('rejects features of another width', () => {
    const module = create();
    const narrow = tf.zeros([2, 8]) as tf.Tensor2D;
    expect(() => module.logits({ backbone, features, training: false }, { imageFeatures: narrow })).toThrow(/probe weights \[16,4\] expect 16-dimensional features.*gives 8-dimensional/);
    narrow.dispose();
    module.dispose();
  });

  it('reads no text', () => {
    const module = create();
    expect(module.attachment.text).toBe('none');
    module.dispose();
  });
});

describe('linear-probe save and load', () => {
  it('reloads with identical logits and selection', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'vlm-compat-linear-probe-'));
    const module = create({ inverseRegularization: 10 });
    await trainModule(module, backbone, features, data, { method, seed: 1 });
    const manifest = await saveModule(module, folder);
    const { module: loaded } = await loadModule(folder);
    const batch = await encodeImages(backbone, data, [0, 7, 15]);
    const context = { backbone, features, training: false };
    const [a, b] = [module.logits(context, { imageFeatures: batch }), loaded.logits(context, { imageFeatures: batch })];
    expect(maxDifference(a, b)).toBe(0);
    expect(manifest.source.identity).toEqual(backbone.identity);
    expect(selection(loaded)).toEqual(selection(module));
    tf.dispose([a, b, batch]);
    module.dispose();
    loaded.dispose();
    await rm(folder, { recursive: true });
  });
});

describe('linear-probe config', () => {
  it('names an invalid hold-out fraction', () => {
    expect(() => resolveConfig(linearProbe, { holdOutFraction: 1 })).toThrow(/holdOutFraction = 1, expected a number between 0 and 1/);
  });

  it('names an invalid grid value', () => {
    expect(() => resolveConfig(linearProbe, { searchGrid: [1, -2] })).toThrow(/searchGrid.1 = -2, expected a positive number/);
  });

  it("defaults to CoOp's search", () => {
    const config = resolveConfig(linearProbe, {});
    expect([config.searchGrid, config.refineSteps, config.maxIterations]).toEqual([[1e-6, 1e-4, 1e-2, 1, 1e2, 1e4, 1e6], 8, 1000]);
  });
});
