import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FeatureCache } from '../src/adapters/features.js';
import { getMethod, resolveConfig } from '../src/adapters/registry.js';
import type { TuningModule } from '../src/adapters/types.js';
import { ClipBackbone } from '../src/backbones/clip/model.js';
import { openaiClipPreprocess } from '../src/backbones/preprocess.js';
import { clipTokenizerFromVocabMerges } from '../src/backbones/tokenizer.js';
import {
  defaultForecastCoefficients,
  forecastCompatibility,
  forecastImageBudget,
  forecastFeatureNames,
  debiasedLinearCka,
  linearCka,
  nuclearNorm,
  predictRetention,
  procrustesResidual,
  symmetricEigen,
  type ForecastCoefficients,
} from '../src/forecast/index.js';
import { createRandom } from '../src/runtime/random.js';
import { TensorImageSource } from '../src/training/tensor-source.js';
import type { ImageSource } from '../src/training/types.js';
import { tinyClipCanonical, tinyClipConfig } from './fixtures/tiny-clip.js';
import { tinyBackbone, tinyClassNames, tinyTask } from './fixtures/tiny-task.js';
import { buildTinyClipVocab } from './fixtures/tiny-tokenizer.js';

const template = 'a photo of a {}.';

function randomOrthogonal(d: number, seed: number): tf.Tensor2D {
  const random = createRandom(seed);
  const a = Float64Array.from({ length: d * d }, () => random.normal());
  const symmetric = Float64Array.from({ length: d * d }, (_, k) => (a[k] as number) + (a[(k % d) * d + Math.floor(k / d)] as number));
  return tf.tensor2d(Float32Array.from(symmetricEigen(symmetric, d).vectors), [d, d]);
}

/** Builds the tiny CLIP of seed 1 with both output projections multiplied by `rotation`. */
function rotatedTinyClip(rotation: tf.Tensor2D): ClipBackbone {
  const config = tinyClipConfig('quick_gelu');
  const canonical = tinyClipCanonical(config, 1);
  for (const key of ['text.projection', 'vision.projection']) {
    const weight = canonical.get(key) as tf.Tensor2D;
    canonical.set(key, tf.matMul(weight, rotation));
    weight.dispose();
  }
  const { vocab, merges } = buildTinyClipVocab();
  const identity = { family: 'clip', name: 'tiny-rotated', revision: 'test', weightsSha256: 'b'.repeat(64) };
  return new ClipBackbone(identity, config, canonical, clipTokenizerFromVocabMerges(vocab, merges), openaiClipPreprocess(config.vision.imageSize));
}

function withoutLabels(source: ImageSource): ImageSource {
  return {
    size: source.size,
    get labels(): Int32Array {
      throw new Error('a label was read');
    },
    images: (indices, imageSize, augment) => source.images(indices, imageSize, augment),
  };
}

let source: ClipBackbone;
let target: ClipBackbone;
let rotated: ClipBackbone;
let unlabeled: TensorImageSource;
const modules = new Map<string, TuningModule>();

function module(methodName: string, config: unknown = {}): TuningModule {
  const found = modules.get(methodName);
  if (found !== undefined) return found;
  const method = getMethod(methodName);
  const created = method.create({ backbone: source, classNames: tinyClassNames, config: resolveConfig(method, config), random: createRandom(1), template });
  modules.set(methodName, created);
  return created;
}

beforeAll(() => {
  source = tinyBackbone(1, 'tiny-source');
  target = tinyBackbone(2, 'tiny-target');
  const rotation = randomOrthogonal(tinyClipConfig().embedDim, 3);
  rotated = rotatedTinyClip(rotation);
  rotation.dispose();
  unlabeled = tinyTask(10, 5);
});

afterAll(() => {
  modules.forEach((m) => m.dispose());
  [source, target, rotated, unlabeled].forEach((x) => x.dispose());
});

describe('forecastCompatibility', () => {
  it('never reads labels', async () => {
    const forecast = await forecastCompatibility(module('clip-adapter'), source, target, withoutLabels(unlabeled));
    expect(Number.isFinite(forecast.predictedRetention)).toBe(true);
  });

  it('frees every tensor it creates', async () => {
    const adapter = module('clip-adapter');
    const before = tf.memory().numTensors;
    await forecastCompatibility(adapter, source, target, unlabeled);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('keeps a shared cache filled', async () => {
    const adapter = module('clip-adapter');
    const cache = new FeatureCache();
    const before = tf.memory().numTensors;
    await forecastCompatibility(adapter, source, target, unlabeled, { features: cache });
    const cached = tf.memory().numTensors - before;
    cache.dispose();
    expect(cached).toBeGreaterThan(0);
  });

  it('encodes a named pool once per cache', async () => {
    const pool = new TensorImageSource(tf.randomNormal([12, 16, 16, 3]) as tf.Tensor4D, new Int32Array(12), 'pool');
    const cache = new FeatureCache();
    const first = await forecastCompatibility(module('clip-adapter'), source, target, pool, { features: cache });
    const encodes = vi.spyOn(source, 'encodeImage');
    const second = await forecastCompatibility(module('tip-adapter'), source, target, pool, { features: cache });
    const calls = encodes.mock.calls.length;
    encodes.mockRestore();
    cache.dispose();
    pool.dispose();
    expect(calls).toBe(0);
    expect(second.evidence.image).toEqual(first.evidence.image);
  });

  it('compares image features for an adapter', async () => {
    const { evidence } = await forecastCompatibility(module('clip-adapter'), source, target, unlabeled);
    expect(evidence.featureSet).toBe('image');
    expect(evidence.text).toBeUndefined();
    expect(evidence.cka).toBe(evidence.image?.cka);
    expect(evidence.depthCategory).toBe('output');
  });

  it('compares class prompts for a prompt', async () => {
    const { evidence } = await forecastCompatibility(module('coop', { contextTokens: 2 }), source, target, unlabeled);
    expect(evidence.featureSet).toBe('text');
    expect(evidence.image).toBeUndefined();
    expect(evidence.text?.rows).toBe(tinyClassNames.length);
    expect(evidence.depthCategory).toBe('input');
  });

  it('combines both for LoRA', async () => {
    const { evidence } = await forecastCompatibility(module('clip-lora'), source, target, unlabeled);
    expect(evidence.featureSet).toBe('image+text');
    expect(evidence.cka).toBeCloseTo(((evidence.image?.cka as number) + (evidence.text?.cka as number)) / 2, 12);
    expect(evidence.procrustesResidual).toBeCloseTo(((evidence.image?.procrustesResidual as number) + (evidence.text?.procrustesResidual as number)) / 2, 12);
    expect(evidence.depthCategory).toBe('layers');
  });

  it('finds identical backbones identical', async () => {
    const { evidence } = await forecastCompatibility(module('clip-lora'), source, source, unlabeled);
    expect(evidence.cka).toBeCloseTo(1, 5);
    expect(evidence.procrustesResidual).toBeLessThan(1e-5);
    expect(evidence.zeroShotAgreement).toBe(1);
  });

  it('sees through a rotation', async () => {
    const { evidence } = await forecastCompatibility(module('clip-lora'), source, rotated, unlabeled);
    expect(evidence.cka).toBeCloseTo(1, 4);
    expect(evidence.procrustesResidual).toBeLessThan(1e-5);
    expect(evidence.zeroShotAgreement).toBe(1);
  });

  it('tells different backbones apart', async () => {
    const { evidence } = await forecastCompatibility(module('clip-lora'), source, target, unlabeled);
    expect(evidence.cka).toBeLessThan(0.99);
    expect(evidence.procrustesResidual).toBeGreaterThan(0.01);
  });

  it('samples at most maxImages', async () => {
    const { evidence } = await forecastCompatibility(module('clip-adapter'), source, target, unlabeled, { maxImages: 12 });
    expect(evidence.images).toBe(12);
  });

  it('samples at most maxClasses', async () => {
    const { evidence } = await forecastCompatibility(module('coop', { contextTokens: 2 }), source, target, unlabeled, { maxClasses: 3 });
    expect(evidence.classPrompts).toBe(3);
  });

  it('judges a prompt with under 4 classes on images', async () => {
    const { evidence } = await forecastCompatibility(module('coop', { contextTokens: 2 }), source, target, unlabeled, { maxClasses: 3 });
    expect(evidence.featureSet).toBe('image');
    expect(evidence.text).toBeUndefined();
  });

  it('records the CKA estimator', async () => {
    const { evidence } = await forecastCompatibility(module('clip-adapter'), source, target, unlabeled);
    expect(evidence.ckaEstimator).toBe('debiased');
  });

  it('explains an unopened unlabeled split', async () => {
    const split = { name: 'pool', size: 3, forBackbone: () => unlabeled };
    const attempt = forecastCompatibility(module('clip-adapter'), source, target, split as unknown as ImageSource);
    await expect(attempt).rejects.toThrow(/got an object with fields name, size, forBackbone\. This looks like the split from loadUnlabeledImages; pass \(backbone\) => split\.forBackbone\(backbone\.preprocess\)/);
  });

  it('rejects fewer than 4 unlabeled images', async () => {
    const few = new TensorImageSource(tf.randomNormal([3, 16, 16, 3]) as tf.Tensor4D, new Int32Array(3));
    await expect(forecastCompatibility(module('clip-adapter'), source, target, few)).rejects.toThrow(/needs at least 4 unlabeled images, but the image source has 3/);
    few.dispose();
  });

  it('draws the same classes for one seed', async () => {
    const first = await forecastCompatibility(module('clip-adapter'), source, target, unlabeled, { maxClasses: 2, seed: 4 });
    const second = await forecastCompatibility(module('clip-adapter'), source, target, unlabeled, { maxClasses: 2, seed: 4 });
    expect(second.evidence.zeroShotAgreement).toBe(first.evidence.zeroShotAgreement);
  });

  it('rejects a class cap below 2', async () => {
    await expect(forecastCompatibility(module('clip-adapter'), source, target, unlabeled, { maxClasses: 1 })).rejects.toThrow(/maxClasses = 1 is invalid/);
  });

  it('records identities and time', async () => {
    const forecast = await forecastCompatibility(module('clip-adapter'), source, target, unlabeled);
    expect(forecast.source.name).toBe('tiny-source');
    expect(forecast.target.name).toBe('tiny-target');
    expect(forecast.seconds).toBeGreaterThan(0);
    expect(forecast.evidence.classPrompts).toBe(tinyClassNames.length);
  });

  it('opens images per backbone', async () => {
    const opened: string[] = [];
    const forecast = await forecastCompatibility(module('clip-adapter'), source, target, (backbone) => {
      opened.push(backbone.identity.name);
      return unlabeled;
    });
    expect(opened).toEqual(['tiny-source', 'tiny-target']);
    expect(forecast.evidence.images).toBe(unlabeled.size);
  });

  it('rejects sources of different sizes', async () => {
    const small = tinyTask(1, 6);
    const attempt = forecastCompatibility(module('clip-adapter'), source, target, (backbone) => (backbone === source ? unlabeled : small));
    await expect(attempt).rejects.toThrow(/40 examples for tiny-source but 4 for tiny-target/);
    small.dispose();
  });

  it('rejects NaN image features', async () => {
    const broken: ImageSource = { size: 4, labels: new Int32Array(4), images: async (indices, size) => tf.fill([indices.length, size, size, 3], Number.NaN) as tf.Tensor4D };
    await expect(forecastCompatibility(module('clip-adapter'), source, target, broken)).rejects.toThrow(/tiny-source gave NaN or infinite image features/);
  });

  it('uses the given coefficients', async () => {
    const weights = [0.1, 0.2, 0.5, 0, 0];
    const coefficients: ForecastCoefficients = { ...defaultForecastCoefficients(), weights, residualStd: 0 };
    const forecast = await forecastCompatibility(module('clip-adapter'), source, target, unlabeled, { coefficients });
    const { cka, zeroShotAgreement } = forecast.evidence;
    expect(forecast.predictedRetention).toBeCloseTo(0.1 + 0.2 * cka + 0.5 * zeroShotAgreement, 12);
  });
});

describe('forecastImageBudget', () => {
  it('takes 5% of a mid-sized test split', () => {
    expect(forecastImageBudget(488)).toBe(24);
  });

  it('caps large test splits at 128', () => {
    expect(forecastImageBudget(50_000)).toBe(128);
  });

  it('keeps at least 8 images', () => {
    expect(forecastImageBudget(128)).toBe(8);
  });
});

describe('predictRetention', () => {
  const base: ForecastCoefficients = {
    ...defaultForecastCoefficients(),
    weights: [0.2, 0.5, 0.4, -0.2, 0.1],
    covariance: forecastFeatureNames.map((_, i) => forecastFeatureNames.map((__, j) => (i === j ? 0.5 : 0))),
    residualStd: 0.1,
    intervalZ: 2,
    ranges: { cka: [0.5, 1], zeroShotAgreement: [0, 1], 'depth:input': [0, 1], 'depth:layers': [0, 1] },
  };
  const evidence = { cka: 0.9, zeroShotAgreement: 0.8, depthCategory: 'input' as const };

  it('is the weighted sum', () => {
    expect(predictRetention(base, evidence).predictedRetention).toBeCloseTo(0.2 + 0.45 + 0.32 - 0.2, 12);
  });

  it('widens the interval with leverage', () => {
    const { interval, predictedRetention } = predictRetention(base, evidence);
    const leverage = 0.5 * (1 + 0.81 + 0.64 + 1);
    expect(interval[1] - predictedRetention).toBeCloseTo(2 * 0.1 * Math.sqrt(1 + leverage), 12);
  });

  it('clamps the lower end at 0', () => {
    const { interval } = predictRetention({ ...base, residualStd: 10 }, evidence);
    expect(interval[0]).toBe(0);
  });

  it('names extrapolated features', () => {
    expect(predictRetention(base, { ...evidence, cka: 0.3 }).extrapolated).toEqual(['cka']);
  });
});

describe('similarity measures', () => {
  const x = tf.tensor2d(Array.from({ length: 30 }, (_, i) => Math.sin(i * 1.7) + (i % 3)), [10, 3]);

  afterAll(() => x.dispose());

  it('gives CKA 1 for a rotation and scale', () => {
    const rotation = randomOrthogonal(3, 9);
    const y = tf.tidy(() => tf.mul(tf.matMul(x, rotation), 3) as tf.Tensor2D);
    const cka = linearCka(x, y);
    tf.dispose([rotation, y]);
    expect(cka).toBeCloseTo(1, 5);
  });

  it('gives the same CKA in both forms', () => {
    const random = createRandom(4);
    const y = tf.tensor2d(Array.from({ length: 10 * 3 }, () => random.normal()), [10, 3]);
    // Zero columns change no Gram matrix, but 12 columns for 10 rows switch to the n × n Gram form.
    const padded = (z: tf.Tensor2D) => tf.pad(z, [
      [0, 0],
      [0, 9],
    ]) as tf.Tensor2D;
    const featureForm = linearCka(x, y);
    const gramForm = tf.tidy(() => linearCka(padded(x), padded(y)));
    y.dispose();
    expect(gramForm).toBeCloseTo(featureForm, 5);
  });

  it('gives NaN without variance', () => {
    const constant = tf.ones([4, 3]) as tf.Tensor2D;
    const cka = linearCka(constant, constant);
    constant.dispose();
    expect(cka).toBeNaN();
  });

  it('gives residual 0 for a rotation', () => {
    const rotation = randomOrthogonal(3, 10);
    const y = tf.matMul(x, rotation) as tf.Tensor2D;
    const residual = procrustesResidual(y, x);
    tf.dispose([rotation, y]);
    expect(residual).toBeLessThan(1e-6);
  });

  it('gives the same residual for fewer rows than dimensions', () => {
    const random = createRandom(5);
    const [t, s] = [6, 6].map(() => tf.tensor2d(Array.from({ length: 6 * 12 }, () => random.normal()), [6, 12])) as [tf.Tensor2D, tf.Tensor2D];
    const product = tf.tidy(() => tf.matMul(tf.div(t, tf.norm(t, 2, 1, true)), tf.div(s, tf.norm(s, 2, 1, true)), true, false));
    const cross = Float64Array.from(product.dataSync());
    product.dispose();
    const expected = (6 + 6 - 2 * nuclearNorm(cross, 12, 12)) / 6;
    const residual = procrustesResidual(t, s);
    tf.dispose([t, s]);
    expect(residual).toBeCloseTo(expected, 5);
  });

  it('rejects different row counts', () => {
    const y = tf.ones([4, 3]) as tf.Tensor2D;
    expect(() => linearCka(x, y)).toThrow(/10 rows but y has 4/);
    y.dispose();
  });
});

/** Unbiased HSIC as the plain U-statistic over ordered quadruples of distinct rows, from Gram matrices. */
function quadrupleHsic(k: number[][], l: number[][]): number {
  const n = k.length;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++)
      for (let q = 0; q < n; q++)
        for (let r = 0; r < n; r++) {
          if (new Set([i, j, q, r]).size < 4) continue;
          const kij = k[i]?.[j] as number;
          sum += kij * (l[i]?.[j] as number) + kij * (l[q]?.[r] as number) - 2 * kij * (l[i]?.[q] as number);
          count++;
        }
  return sum / count;
}

describe('debiasedLinearCka', () => {
  const random = createRandom(12);
  const draw = (rows: number, columns: number) => tf.tensor2d(Array.from({ length: rows * columns }, () => random.normal()), [rows, columns]);

  it('matches the quadruple U-statistic', () => {
    const [x, y] = [draw(7, 3), draw(7, 5)];
    const gram = (z: tf.Tensor2D) => tf.tidy(() => tf.matMul(z, z, false, true).arraySync() as number[][]);
    const [k, l] = [gram(x), gram(y)];
    const expected = quadrupleHsic(k, l) / Math.sqrt(quadrupleHsic(k, k) * quadrupleHsic(l, l));
    const cka = debiasedLinearCka(x, y);
    tf.dispose([x, y]);
    expect(cka).toBeCloseTo(expected, 10);
  });

  it('gives 1 for a rotation and scale', () => {
    const x = draw(10, 3);
    const rotation = randomOrthogonal(3, 9);
    const y = tf.tidy(() => tf.mul(tf.matMul(x, rotation), 3) as tf.Tensor2D);
    const cka = debiasedLinearCka(x, y);
    tf.dispose([x, rotation, y]);
    expect(cka).toBeCloseTo(1, 5);
  });

  // 32 independent Gaussian rows in 128 dimensions: debiased CKA spreads by about 0.05 around 0, while plain CKA is about 0.8.
  it('stays near 0 for independent features of few rows', () => {
    const [x, y] = [draw(32, 128), draw(32, 128)];
    const cka = debiasedLinearCka(x, y);
    tf.dispose([x, y]);
    expect(Math.abs(cka)).toBeLessThan(0.2);
  });

  it('differs from plain CKA there', () => {
    const [x, y] = [draw(32, 128), draw(32, 128)];
    const plain = linearCka(x, y);
    tf.dispose([x, y]);
    expect(plain).toBeGreaterThan(0.5);
  });

  it('rejects fewer than 4 rows', () => {
    const x = draw(3, 2);
    expect(() => debiasedLinearCka(x, x)).toThrow(/at least 4 rows, got 3/);
    x.dispose();
  });
});
