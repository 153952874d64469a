import { describe, expect, it } from 'vitest';
import {
  accuracyMetric,
  backwardErrorCompatibilityMetric,
  backwardTrustCompatibilityMetric,
  builtinMetrics,
  compatibleMetric,
  computeMetrics,
  defaultMetrics,
  gainOverZeroShotMetric,
  MetricOptionsError,
  negativeFlipImpactMetric,
  negativeFlipRateMetric,
  perClassChange,
  positiveFlipRateMetric,
  PredictionSetsError,
  recoveryMetric,
  retentionMetric,
  type CompatibilityMetric,
  type MetricValue,
  type PredictionSets,
} from '../src/metrics/index.js';

const ints = (values: number[]) => Int32Array.from(values);

// Ten test examples of three classes. Correct predictions per condition, by example index 0..9:
//   source (old)   0 1 2 . 4 5 . 7 8 .   → 7/10 = 0.7
//   transplanted   0 1 . . 4 . 6 7 . .   → 5/10 = 0.5
//   zero-shot      0 . . . 4 . . 7 . .   → 3/10 = 0.3
//   retrained      0 1 2 3 4 5 6 7 8 .   → 9/10 = 0.9
//   target-bridged 0 1 2 . 4 5 6 7 . 9   → 8/10 = 0.8
// Old → new (source → transplanted): both right at 0 1 4 7 (4), negative flips at 2 5 8 (3),
// positive flip at 6 (1), both wrong at 3 9 (2).
const sets: PredictionSets = {
  labels: ints([0, 0, 0, 0, 1, 1, 1, 2, 2, 2]),
  classNames: ['cat', 'dog', 'emu'],
  sourceModule: ints([0, 0, 0, 1, 1, 1, 0, 2, 2, 0]),
  targetTransplanted: ints([0, 0, 1, 1, 1, 0, 1, 2, 0, 0]),
  targetZeroShot: ints([0, 1, 1, 1, 1, 0, 0, 2, 0, 0]),
  targetRetrained: ints([0, 0, 0, 0, 1, 1, 1, 2, 2, 0]),
  extra: { 'target-bridged': ints([0, 0, 0, 1, 1, 1, 1, 2, 0, 2]) },
};

const { targetRetrained: _omitted, ...withoutRetrain } = sets;

const byName = (values: MetricValue[], name: string): MetricValue => {
  const found = values.find((value) => value.name === name);
  if (found === undefined) throw new Error(`no metric ${name} in ${values.map((value) => value.name).join(', ')}`);
  return found;
};

describe('accuracy metrics', () => {
  it('computes source accuracy', () => {
    expect(accuracyMetric('source-module').compute(sets)).toBeCloseTo(0.7, 12);
  });

  it('computes zero-shot accuracy', () => {
    expect(accuracyMetric('target-zero-shot').compute(sets)).toBeCloseTo(0.3, 12);
  });

  it('computes transplanted accuracy', () => {
    expect(accuracyMetric('target-transplanted').compute(sets)).toBeCloseTo(0.5, 12);
  });

  it('computes retrained accuracy', () => {
    expect(accuracyMetric('target-retrained').compute(sets)).toBeCloseTo(0.9, 12);
  });

  it('computes extra condition accuracy', () => {
    expect(accuracyMetric('target-bridged').compute(sets)).toBeCloseTo(0.8, 12);
  });

  it('names the standard conditions', () => {
    expect(['source-module', 'target-zero-shot', 'target-transplanted', 'target-retrained'].map((c) => accuracyMetric(c).name)).toEqual([
      'source-accuracy',
      'target-zero-shot-accuracy',
      'transplanted-accuracy',
      'retrained-accuracy',
    ]);
  });

  it('names an extra condition', () => {
    expect(accuracyMetric('target-bridged').name).toBe('target-bridged-accuracy');
  });

  it('retrained accuracy without reference is NaN', () => {
    expect(accuracyMetric('target-retrained').compute(withoutRetrain)).toBeNaN();
  });

  it('retrained accuracy without reference has a note', () => {
    const value = byName(computeMetrics(withoutRetrain), 'retrained-accuracy');
    expect(value.note).toMatch(/target-retrained was not measured/);
  });
});

describe('comparison metrics', () => {
  it('computes retention', () => {
    // 0.5 / 0.7
    expect(retentionMetric.compute(sets)).toBeCloseTo(5 / 7, 12);
  });

  it('retention is NaN when source accuracy is 0', () => {
    const allWrong = { ...sets, sourceModule: ints([1, 1, 1, 1, 0, 0, 0, 0, 0, 0]) };
    expect(retentionMetric.compute(allWrong)).toBeNaN();
  });

  it('retention at source accuracy 0 has a note', () => {
    const allWrong = { ...sets, sourceModule: ints([1, 1, 1, 1, 0, 0, 0, 0, 0, 0]) };
    expect(byName(computeMetrics(allWrong), 'retention').note).toMatch(/divides by 0/);
  });

  it('computes gain over zero-shot', () => {
    // 0.5 − 0.3
    expect(gainOverZeroShotMetric.compute(sets)).toBeCloseTo(0.2, 12);
  });

  it('computes recovery', () => {
    // (0.5 − 0.3) / (0.9 − 0.3) = 0.2 / 0.6
    expect(recoveryMetric.compute(sets)).toBeCloseTo(1 / 3, 12);
  });

  it('recovery without reference is NaN', () => {
    expect(recoveryMetric.compute(withoutRetrain)).toBeNaN();
  });

  it('recovery without reference has a note', () => {
    expect(byName(computeMetrics(withoutRetrain), 'recovery').note).toMatch(/retrain reference/);
  });

  it('recovery is NaN for a zero denominator', () => {
    // Retrained equal to zero-shot: 0.3 − 0.3 = 0.
    expect(recoveryMetric.compute({ ...sets, targetRetrained: sets.targetZeroShot })).toBeNaN();
  });
});

describe('compatible metric', () => {
  it('is 1 for a positive gain', () => {
    expect(compatibleMetric().compute(sets)).toBe(1);
  });

  it('is 0 for a loss beyond tolerance', () => {
    // Swap transplanted and zero-shot: gain = 0.3 − 0.5 = −0.2, i.e. −20 points.
    const losing = { ...sets, targetTransplanted: sets.targetZeroShot, targetZeroShot: sets.targetTransplanted };
    expect(compatibleMetric(19.9).compute(losing)).toBe(0);
  });

  it('is 1 for a loss within tolerance', () => {
    const losing = { ...sets, targetTransplanted: sets.targetZeroShot, targetZeroShot: sets.targetTransplanted };
    expect(compatibleMetric(20).compute(losing)).toBe(1);
  });

  it('is 1 for zero gain at tolerance 0', () => {
    expect(compatibleMetric(0).compute({ ...sets, targetZeroShot: sets.targetTransplanted })).toBe(1);
  });

  it('has unit boolean', () => {
    expect(compatibleMetric().unit).toBe('boolean');
  });

  it('rejects a negative tolerance', () => {
    expect(() => compatibleMetric(-1)).toThrow(MetricOptionsError);
  });

  it('takes tolerance from defaultMetrics', () => {
    const losing = { ...sets, targetTransplanted: sets.targetZeroShot, targetZeroShot: sets.targetTransplanted };
    const metrics = defaultMetrics(losing, { compatibleTolerancePoints: 25 });
    expect(byName(computeMetrics(losing, metrics), 'compatible').value).toBe(1);
  });
});

describe('flip metrics', () => {
  it('computes NFR', () => {
    // 3 negative flips / 10 examples
    expect(negativeFlipRateMetric.compute(sets)).toBeCloseTo(0.3, 12);
  });

  it('computes PFR', () => {
    // 1 positive flip / 10 examples
    expect(positiveFlipRateMetric.compute(sets)).toBeCloseTo(0.1, 12);
  });

  it('computes NFI', () => {
    // 3 negative flips / 5 errors of new = NFR / (1 − 0.5) = 0.3 / 0.5
    expect(negativeFlipImpactMetric.compute(sets)).toBeCloseTo(0.6, 12);
  });

  it('NFI is NaN when new makes no error', () => {
    const perfect = { ...sets, targetTransplanted: sets.labels };
    expect(negativeFlipImpactMetric.compute(perfect)).toBeNaN();
  });

  it('computes BTC', () => {
    // 4 both right / 7 old right = 1 − 0.3 / 0.7
    expect(backwardTrustCompatibilityMetric.compute(sets)).toBeCloseTo(4 / 7, 12);
  });

  it('BTC is NaN when old is never right', () => {
    const allWrong = { ...sets, sourceModule: ints([1, 1, 1, 1, 0, 0, 0, 0, 0, 0]) };
    expect(backwardTrustCompatibilityMetric.compute(allWrong)).toBeNaN();
  });

  it('computes BEC', () => {
    // 2 both wrong / 5 errors of new
    expect(backwardErrorCompatibilityMetric.compute(sets)).toBeCloseTo(0.4, 12);
  });

  it('BEC is NaN when new makes no error', () => {
    const perfect = { ...sets, targetTransplanted: sets.labels };
    expect(backwardErrorCompatibilityMetric.compute(perfect)).toBeNaN();
  });

  it('flips are zero for identical predictions', () => {
    const same = { ...sets, targetTransplanted: sets.sourceModule };
    expect(negativeFlipRateMetric.compute(same) + positiveFlipRateMetric.compute(same)).toBe(0);
  });
});

describe('per-class change', () => {
  // Class cat (examples 0..3): source 3/4, transplanted 2/4, change −0.25.
  // Class dog (4..6): source 2/3, transplanted 2/3, change 0.
  // Class emu (7..9): source 2/3, transplanted 1/3, change −1/3.
  // Class fox: no test examples.
  const rows = perClassChange({ ...sets, classNames: ['cat', 'dog', 'emu', 'fox'] });

  it('sorts worst first', () => {
    expect(rows.map((row) => row.className)).toEqual(['emu', 'cat', 'dog', 'fox']);
  });

  it('counts support', () => {
    expect(rows.map((row) => row.support)).toEqual([3, 4, 3, 0]);
  });

  it('computes source accuracy per class', () => {
    expect(rows[1]?.source).toBeCloseTo(0.75, 12);
  });

  it('computes transplanted accuracy per class', () => {
    expect(rows[1]?.transplanted).toBeCloseTo(0.5, 12);
  });

  it('computes the change', () => {
    expect(rows[0]?.change).toBeCloseTo(-1 / 3, 12);
  });

  it('class without examples is NaN', () => {
    expect(rows[3]?.change).toBeNaN();
  });

  it('empty test set gives NaN rows', () => {
    const empty = perClassChange({ ...emptySets, classNames: ['cat'] });
    expect(empty).toEqual([{ className: 'cat', support: 0, source: Number.NaN, transplanted: Number.NaN, change: Number.NaN }]);
  });
});

const emptySets: PredictionSets = {
  labels: ints([]),
  classNames: ['cat', 'dog'],
  sourceModule: ints([]),
  targetZeroShot: ints([]),
  targetTransplanted: ints([]),
  targetRetrained: ints([]),
};

describe('computeMetrics', () => {
  it('computes every built-in metric', () => {
    expect(computeMetrics(sets, builtinMetrics).map((value) => value.name)).toEqual(builtinMetrics.map((metric) => metric.name));
  });

  it('adds extra conditions by default', () => {
    expect(byName(computeMetrics(sets), 'target-bridged-accuracy').value).toBeCloseTo(0.8, 12);
  });

  it('keeps unit and direction', () => {
    const nfr = byName(computeMetrics(sets), 'nfr');
    expect([nfr.unit, nfr.direction]).toEqual(['fraction', 'lower-is-better']);
  });

  it('runs a custom metric', () => {
    // Agreement of source and transplanted predictions: equal at 0 1 3 4 7 9, so 6/10.
    const agreement: CompatibilityMetric = {
      name: 'agreement',
      unit: 'fraction',
      direction: 'higher-is-better',
      compute: (s) => s.sourceModule.filter((p, i) => p === s.targetTransplanted[i]).length / s.labels.length,
    };
    expect(computeMetrics(sets, [agreement])[0]?.value).toBeCloseTo(0.6, 12);
  });

  it('gives a custom NaN a generic note', () => {
    const never: CompatibilityMetric = { name: 'never', unit: 'count', direction: 'higher-is-better', compute: () => Number.NaN };
    expect(computeMetrics(sets, [never])[0]?.note).toMatch(/never is undefined/);
  });

  it('rejects duplicate metric names', () => {
    expect(() => computeMetrics(sets, [retentionMetric, retentionMetric])).toThrow(/Two metrics are named "retention"/);
  });

  it('empty test set gives NaN everywhere', () => {
    expect(computeMetrics(emptySets).every((value) => Number.isNaN(value.value))).toBe(true);
  });

  it('empty test set notes the cause', () => {
    expect(computeMetrics(emptySets).every((value) => value.note === 'The test set is empty.')).toBe(true);
  });
});

describe('prediction set validation', () => {
  it('names mismatched lengths', () => {
    const short = { ...sets, targetTransplanted: ints([0, 0, 1]) };
    expect(() => computeMetrics(short)).toThrow(/target-transplanted has 3 predictions but there are 10 labels/);
  });

  it('checks lengths in a metric', () => {
    const short = { ...sets, targetZeroShot: ints([0]) };
    expect(() => gainOverZeroShotMetric.compute(short)).toThrow(PredictionSetsError);
  });

  it('checks extra condition lengths', () => {
    const short = { ...sets, extra: { 'target-bridged': ints([0, 1]) } };
    expect(() => computeMetrics(short)).toThrow(/target-bridged has 2 predictions/);
  });

  it('rejects a label out of range', () => {
    const bad = { ...sets, labels: ints([0, 0, 0, 0, 1, 1, 1, 2, 2, 3]) };
    expect(() => computeMetrics(bad)).toThrow(/Label 3 of test example 9 is outside \[0, 3\)/);
  });

  it('rejects a prediction out of range', () => {
    const bad = { ...sets, targetZeroShot: ints([0, 1, 1, 1, 1, 0, 0, 2, 0, -1]) };
    expect(() => computeMetrics(bad)).toThrow(/target-zero-shot predicts class -1 for test example 9/);
  });

  it('rejects a reserved extra name', () => {
    const bad = { ...sets, extra: { 'target-retrained': sets.sourceModule } };
    expect(() => computeMetrics(bad)).toThrow(/name of a standard condition/);
  });
});
