import { describe, expect, it } from 'vitest';
import {
  backwardTrustCompatibilityMetric,
  computeMetrics,
  MetricOptionsError,
  negativeFlipRateMetric,
  quantile,
  retrainedAccuracyMetric,
  retentionMetric,
  transplantedAccuracyMetric,
  withBootstrap,
  type CompatibilityMetric,
  type PredictionSets,
} from '../src/metrics/index.js';
import { createRandom } from '../src/runtime/random.js';

const ints = (values: number[]) => Int32Array.from(values);

/** Creates a test set of `size` examples of 4 classes, where each condition is right with a fixed probability. */
function syntheticSets(size: number, seed: number): PredictionSets {
  const random = createRandom(seed);
  const labels = Int32Array.from({ length: size }, () => random.int(4));
  const condition = (rightRate: number) => labels.map((label) => (random.next() < rightRate ? label : (label + 1) % 4));
  return {
    labels,
    classNames: ['a', 'b', 'c', 'd'],
    sourceModule: condition(0.8),
    targetZeroShot: condition(0.6),
    targetTransplanted: condition(0.7),
  };
}

const sets = syntheticSets(200, 11);

describe('quantile', () => {
  it('interpolates the median', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
  });

  it('interpolates a low percentile', () => {
    // position (2 − 1) × 0.025 = 0.025 between 0 and 10
    expect(quantile([0, 10], 0.025)).toBeCloseTo(0.25, 12);
  });

  it('is NaN for no values', () => {
    expect(quantile([], 0.5)).toBeNaN();
  });
});

describe('withBootstrap', () => {
  it('is deterministic for a seed', () => {
    const a = withBootstrap(transplantedAccuracyMetric, sets, { samples: 200, seed: 5 });
    const b = withBootstrap(transplantedAccuracyMetric, sets, { samples: 200, seed: 5 });
    expect(a.interval).toEqual(b.interval);
  });

  it('interval contains the point estimate', () => {
    const value = withBootstrap(transplantedAccuracyMetric, sets, { seed: 1 });
    const [low, high] = value.interval ?? [Number.NaN, Number.NaN];
    expect(low).toBeLessThanOrEqual(value.value);
    expect(high).toBeGreaterThanOrEqual(value.value);
  });

  it('interval has positive width', () => {
    const [low, high] = withBootstrap(transplantedAccuracyMetric, sets, { seed: 1 }).interval ?? [0, 0];
    expect(high - low).toBeGreaterThan(0);
  });

  it('interval of a ratio contains the estimate', () => {
    const value = withBootstrap(retentionMetric, sets, { seed: 2 });
    const [low, high] = value.interval ?? [Number.NaN, Number.NaN];
    expect(low).toBeLessThanOrEqual(value.value);
    expect(high).toBeGreaterThanOrEqual(value.value);
  });

  it('defaults to 1000 samples', () => {
    expect(withBootstrap(transplantedAccuracyMetric, sets, { seed: 3 }).bootstrap?.samples).toBe(1000);
  });

  it('records the seed', () => {
    expect(withBootstrap(transplantedAccuracyMetric, sets, { samples: 10, seed: 3 }).bootstrap?.seed).toBe(3);
  });

  it('resamples conditions jointly', () => {
    // With identical old and new predictions, every jointly resampled set has no negative flip.
    const same = { ...sets, targetTransplanted: sets.sourceModule };
    expect(withBootstrap(negativeFlipRateMetric, same, { samples: 300, seed: 4 }).interval).toEqual([0, 0]);
  });

  it('counts undefined resamples', () => {
    // Old is right only on example 0, so a resample without example 0 has undefined BTC
    // (probability 0.9^10 ≈ 0.35 per resample).
    const rare: PredictionSets = {
      labels: ints([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]),
      classNames: ['a', 'b'],
      sourceModule: ints([0, 1, 1, 1, 1, 0, 0, 0, 0, 0]),
      targetZeroShot: ints([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
      targetTransplanted: ints([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]),
    };
    const undefinedSamples = withBootstrap(backwardTrustCompatibilityMetric, rare, { samples: 1000, seed: 9 }).bootstrap?.undefinedSamples ?? 0;
    expect(undefinedSamples).toBeGreaterThan(200);
    expect(undefinedSamples).toBeLessThan(500);
  });

  it('skips the interval for NaN', () => {
    expect(withBootstrap(retrainedAccuracyMetric, sets, { samples: 10, seed: 0 }).interval).toBeUndefined();
  });

  it('keeps the note for NaN', () => {
    expect(withBootstrap(retrainedAccuracyMetric, sets, { samples: 10, seed: 0 }).note).toMatch(/not measured/);
  });

  it('empty test set has no interval', () => {
    const empty: PredictionSets = { labels: ints([]), classNames: ['a'], sourceModule: ints([]), targetZeroShot: ints([]), targetTransplanted: ints([]) };
    expect(withBootstrap(transplantedAccuracyMetric, empty, { seed: 0 })).toEqual({
      name: 'transplanted-accuracy',
      value: Number.NaN,
      unit: 'fraction',
      direction: 'higher-is-better',
      note: 'The test set is empty.',
    });
  });

  it('rejects zero samples', () => {
    expect(() => withBootstrap(transplantedAccuracyMetric, sets, { samples: 0, seed: 0 })).toThrow(MetricOptionsError);
  });

  it('rejects fractional samples', () => {
    expect(() => withBootstrap(transplantedAccuracyMetric, sets, { samples: 1.5, seed: 0 })).toThrow(/samples 1.5 is invalid/);
  });

  it('rejects a NaN seed', () => {
    expect(() => withBootstrap(transplantedAccuracyMetric, sets, { seed: Number.NaN })).toThrow(/seed NaN is invalid/);
  });
});

describe('computeMetrics with bootstrap', () => {
  it('matches withBootstrap per metric', () => {
    const all = computeMetrics(sets, undefined, { bootstrap: { samples: 100, seed: 7 } });
    const single = withBootstrap(retentionMetric, sets, { samples: 100, seed: 7 });
    expect(all.find((value) => value.name === 'retention')?.interval).toEqual(single.interval);
  });

  it('gives a custom metric an interval', () => {
    const agreement: CompatibilityMetric = {
      name: 'agreement',
      unit: 'fraction',
      direction: 'higher-is-better',
      compute: (s) => s.sourceModule.filter((p, i) => p === s.targetTransplanted[i]).length / s.labels.length,
    };
    const [value] = computeMetrics(sets, [agreement], { bootstrap: { samples: 200, seed: 8 } });
    const point = value?.value ?? Number.NaN;
    const [low, high] = value?.interval ?? [Number.NaN, Number.NaN];
    expect(low).toBeLessThanOrEqual(point);
    expect(high).toBeGreaterThanOrEqual(point);
  });

  it('leaves NaN metrics without interval', () => {
    const all = computeMetrics(sets, undefined, { bootstrap: { samples: 20, seed: 7 } });
    expect(all.find((value) => value.name === 'recovery')?.interval).toBeUndefined();
  });

  it('rejects invalid bootstrap options', () => {
    expect(() => computeMetrics(sets, undefined, { bootstrap: { samples: -5, seed: 0 } })).toThrow(/samples -5 is invalid/);
  });
});
