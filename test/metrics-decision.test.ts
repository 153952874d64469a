import { describe, expect, it } from 'vitest';
import {
  conditionAccuracies,
  createCostRecord,
  decide,
  DecisionInputError,
  defaultPrices,
  formatReasonInEnglish,
  formatStepInEnglish,
  type CostRecord,
  type DecisionInput,
} from '../src/metrics/index.js';
import type { TrainReport } from '../src/training/types.js';

const ints = (values: number[]) => Int32Array.from(values);

/** A training run of 432 s = 0.12 h. */
const report: TrainReport = { seconds: 432, examplesSeen: 640, steps: 40, epochs: 10, trainableParameters: 2048, backend: 'cpu', finalLoss: 0.4 };

// 4 shots × 16 classes = 64 labelled examples.
const measured: CostRecord = createCostRecord({ retrain: report, shots: 4, classes: 16 });

describe('createCostRecord', () => {
  it('counts labelled examples', () => {
    expect(measured.retrain?.labelledExamples).toBe(64);
  });

  it('marks a measured retrain', () => {
    expect(measured.retrain?.measuredOn).toBe('target');
  });

  it('estimates from source training', () => {
    expect(createCostRecord({ sourceTraining: report, shots: 4, classes: 16 }).retrain?.measuredOn).toBe('source');
  });

  it('copies the run report', () => {
    const { seconds, examplesSeen, trainableParameters, backend } = measured.retrain ?? {};
    expect({ seconds, examplesSeen, trainableParameters, backend }).toEqual({ seconds: 432, examplesSeen: 640, trainableParameters: 2048, backend: 'cpu' });
  });

  it('zero-shot costs nothing', () => {
    expect(measured.zeroShot).toEqual({ seconds: 0, unlabeledImages: 0 });
  });

  it('rejects fractional shots', () => {
    expect(() => createCostRecord({ retrain: report, shots: 2.5, classes: 16 })).toThrow(/shots is 2.5/);
  });
});

describe('defaultPrices', () => {
  it('are all zero', () => {
    const { currency, ...amounts } = defaultPrices;
    expect(Object.values(amounts).every((amount) => amount === 0)).toBe(true);
  });
});

describe('decide reuse', () => {
  // Tolerance: ≥ 80% − 5 points = 75%. Reuse (78%) and retrain (81%) meet it, zero-shot (70%) does not.
  // Retrain cost = 0.12 h × $3 + 64 × $0.50 + 2 h × $80 = 0.36 + 32 + 160 = $192.36.
  // Reuse value = 78 × $10 − $0 = $780; retrain value = 81 × $10 − $192.36 = $617.64.
  const decision = decide({
    accuracy: { sourceModule: 0.8, targetZeroShot: 0.7, targetTransplanted: 0.78, targetRetrained: 0.81 },
    cost: measured,
    prices: { computePerHour: 3, perLabelledExample: 0.5, perEngineerHour: 80, engineerHoursPerRetrain: 2, perAccuracyPoint: 10 },
    tolerance: { kind: 'max-drop', points: 5, relativeTo: 'source-module' },
  });

  it('chooses reuse', () => {
    expect(decision.action).toBe('reuse');
  });

  it('shows the retrain cost', () => {
    expect(decision.arithmetic).toContain('retrain cost = 0.12 h × $3.00/h + 64 labels × $0.50 + 2 engineer h × $80.00/h = $192.36');
  });

  it('shows the value lost', () => {
    expect(decision.arithmetic).toContain('value lost by reusing instead of retraining = 3.0 points × $10.00/point = $30.00');
  });

  it('shows the tolerance floor', () => {
    expect(decision.arithmetic).toContain('tolerance: accuracy ≥ 80.0% (source + module) − 5.0 points = 75.0%');
  });

  it('shows option values', () => {
    expect(decision.arithmetic).toContain('retrain value = 81.0 points × $10.00/point − $192.36 = $617.64');
  });

  it('marks zero-shot inadmissible', () => {
    expect(decision.options.find((option) => option.action === 'zero-shot')?.admissible).toBe(false);
  });

  it('records the floor', () => {
    expect(decision.accuracyFloor).toBeCloseTo(0.75, 12);
  });

  it('explains in one line', () => {
    expect(decision.reason).toBe('Reuse is 3.0 points less accurate than retrain (worth $30.00), and $192.36 cheaper.');
  });
});

describe('decide retrain', () => {
  // Retrain cost = 0.12 h × $3 + 64 × $0.05 = 0.36 + 3.20 = $3.56.
  // Values: reuse 50 × $100 = $5000; zero-shot $5500; retrain 82 × $100 − $3.56 = $8196.44.
  const decision = decide({
    accuracy: { sourceModule: 0.8, targetZeroShot: 0.55, targetTransplanted: 0.5, targetRetrained: 0.82 },
    cost: measured,
    prices: { computePerHour: 3, perLabelledExample: 0.05, perAccuracyPoint: 100 },
  });

  it('chooses retrain', () => {
    expect(decision.action).toBe('retrain');
  });

  it('shows the value lost by reusing', () => {
    expect(decision.arithmetic).toContain('value lost by reusing instead of retraining = 32.0 points × $100.00/point = $3200.00');
  });

  it('shows the retrain value', () => {
    expect(decision.arithmetic).toContain('retrain value = 82.0 points × $100.00/point − $3.56 = $8196.44');
  });

  it('says no tolerance was set', () => {
    expect(decision.arithmetic[0]).toBe('tolerance: none set, so every option is admissible');
  });
});

describe('decide zero-shot', () => {
  // Retrain cost = 0.36 + 64 × $20 + 8 h × $100 = $2080.36.
  // Values: reuse 60 × $10 = $600; zero-shot 70 × $10 = $700; retrain $820 − $2080.36 = −$1260.36.
  const decision = decide({
    accuracy: { sourceModule: 0.8, targetZeroShot: 0.7, targetTransplanted: 0.6, targetRetrained: 0.82 },
    cost: measured,
    prices: { computePerHour: 3, perLabelledExample: 20, perEngineerHour: 100, engineerHoursPerRetrain: 8, perAccuracyPoint: 10 },
  });

  it('chooses zero-shot', () => {
    expect(decision.action).toBe('zero-shot');
  });

  it('shows a negative value', () => {
    expect(decision.arithmetic).toContain('retrain value = 82.0 points × $10.00/point − $2080.36 = -$1260.36');
  });

  it('compares with the runner-up', () => {
    expect(decision.reason).toBe('Zero-shot is 10.0 points more accurate than reuse (worth $100.00), at the same cost.');
  });
});

describe('decide unknown retrain', () => {
  const decision = decide({
    accuracy: { sourceModule: 0.8, targetZeroShot: 0.7, targetTransplanted: 0.76 },
    cost: createCostRecord({ sourceTraining: report, shots: 4, classes: 16 }),
    prices: { computePerHour: 3, perLabelledExample: 0.5, perAccuracyPoint: 10 },
  });

  it('chooses between reuse and zero-shot', () => {
    expect(decision.options.map((option) => option.action)).toEqual(['reuse', 'zero-shot']);
  });

  it('chooses reuse', () => {
    expect(decision.action).toBe('reuse');
  });

  it('flags retrain as unmeasured', () => {
    expect(decision.retrainMeasured).toBe(false);
  });

  it('says so in the reason', () => {
    expect(decision.reason).toMatch(/Retraining was not measured/);
  });

  it('shows the estimated retrain cost', () => {
    expect(decision.arithmetic.some((line) => line.includes('estimated from training on the source') && line.includes('= $32.36'))).toBe(true);
  });

  it('works without any retrain cost', () => {
    const { retrain: _omitted, ...withoutRetrain } = measured;
    const result = decide({ accuracy: { sourceModule: 0.8, targetZeroShot: 0.7, targetTransplanted: 0.76 }, cost: withoutRetrain });
    expect(result.arithmetic).toContain('retrain: neither accuracy nor cost measured, so it is not weighed');
  });
});

describe('decide edge cases', () => {
  const base: DecisionInput = {
    accuracy: { sourceModule: 0.8, targetZeroShot: 0.7, targetTransplanted: 0.78, targetRetrained: 0.81 },
    cost: measured,
  };

  it('with zero prices picks the most accurate', () => {
    expect(decide(base).action).toBe('retrain');
  });

  it('explains a tie on value', () => {
    expect(decide(base).arithmetic.at(-1)).toBe('decision: retrain, tied with reuse at the highest value ($0.00) and more accurate');
  });

  it('picks the most accurate when none is admissible', () => {
    expect(decide({ ...base, tolerance: { kind: 'min-accuracy', points: 95 } }).action).toBe('retrain');
  });

  it('flags an unmet tolerance', () => {
    expect(decide({ ...base, tolerance: { kind: 'min-accuracy', points: 95 } }).meetsTolerance).toBe(false);
  });

  it('names the only admissible option', () => {
    expect(decide({ ...base, tolerance: { kind: 'min-accuracy', points: 80 } }).reason).toBe('Retrain is the only option that meets the tolerance of 80.0%.');
  });

  it('measures drop from the retrained module', () => {
    // Floor = 81% − 2 points = 79%, so reuse (78%) is below it.
    const decision = decide({ ...base, tolerance: { kind: 'max-drop', points: 2, relativeTo: 'target-retrained' } });
    expect(decision.options.find((option) => option.action === 'reuse')?.admissible).toBe(false);
  });

  it('admits an accuracy exactly at the floor', () => {
    // Floor = 80% − 2 points = 78%, equal to reuse.
    const decision = decide({ ...base, tolerance: { kind: 'max-drop', points: 2, relativeTo: 'source-module' } });
    expect(decision.options.find((option) => option.action === 'reuse')?.admissible).toBe(true);
  });

  it('weighs a label-free migration', () => {
    // Migrate cost = 0.05 h × $3 = $0.15; value 80 × $10 − 0.15 = $799.85 beats reuse ($780) and retrain ($810 − $192.36).
    const decision = decide({
      ...base,
      accuracy: { ...base.accuracy, targetMigrated: 0.8 },
      cost: { ...measured, migration: { seconds: 180, unlabeledImages: 500 } },
      prices: { computePerHour: 3, perLabelledExample: 0.5, perEngineerHour: 80, engineerHoursPerRetrain: 2, perAccuracyPoint: 10 },
    });
    expect(decision.action).toBe('migrate');
  });

  it('shows migration images', () => {
    const decision = decide({
      ...base,
      accuracy: { ...base.accuracy, targetMigrated: 0.8 },
      cost: { ...measured, migration: { seconds: 180, unlabeledImages: 500 } },
      prices: { computePerHour: 3 },
    });
    expect(decision.arithmetic).toContain('migrate cost = 0.05 h × $3.00/h = $0.15 (500 unlabeled images, 0 labels)');
  });

  it('uses the currency label', () => {
    expect(decide({ ...base, prices: { currency: 'EUR ', perAccuracyPoint: 1 } }).arithmetic).toContain('reuse value = 78.0 points × EUR 1.00/point − EUR 0.00 = EUR 78.00');
  });
});

describe('decide structured record', () => {
  // The same inputs as 'decide reuse': reuse wins over retrain, zero-shot is below the floor of 75%.
  const input: DecisionInput = {
    accuracy: { sourceModule: 0.8, targetZeroShot: 0.7, targetTransplanted: 0.78, targetRetrained: 0.81 },
    cost: measured,
    prices: { computePerHour: 3, perLabelledExample: 0.5, perEngineerHour: 80, engineerHoursPerRetrain: 2, perAccuracyPoint: 10 },
    tolerance: { kind: 'max-drop', points: 5, relativeTo: 'source-module' },
  };
  const decision = decide(input);
  const migrated = decide({
    ...input,
    accuracy: { ...input.accuracy, targetMigrated: 0.8 },
    cost: { ...measured, migration: { seconds: 180, unlabeledImages: 500 } },
    migration: { method: 'distill', condition: 'target-distilled' },
  });

  it('one step per line', () => {
    expect(decision.steps).toHaveLength(decision.arithmetic.length);
  });

  it('English lines from the steps', () => {
    expect(decision.steps.map((step) => formatStepInEnglish(step, decision.currency))).toEqual(decision.arithmetic);
  });

  it('English reason from the explanation', () => {
    expect(formatReasonInEnglish(decision.explanation, decision.currency)).toBe(decision.reason);
  });

  it('compares with the runner-up', () => {
    expect(decision.explanation).toEqual({
      kind: 'compared',
      action: 'reuse',
      runnerUp: 'retrain',
      points: expect.closeTo(-3, 9),
      worth: expect.closeTo(30, 9),
      costDifference: expect.closeTo(-192.36, 9),
      retrainMeasured: true,
    });
  });

  it('keeps numbers as numbers', () => {
    expect(decision.steps.find((step) => step.kind === 'retrain-cost')).toEqual({
      kind: 'retrain-cost',
      measuredOn: 'target',
      weighed: true,
      hours: 0.12,
      computePerHour: 3,
      labelledExamples: 64,
      perLabelledExample: 0.5,
      engineerHours: 2,
      perEngineerHour: 80,
      total: expect.closeTo(192.36, 9),
    });
  });

  it('records each verdict', () => {
    expect(decision.steps.filter((step) => step.kind === 'option-accuracy').map((step) => step.meetsTolerance)).toEqual([true, false, true]);
  });

  it('no worth without a price per point', () => {
    expect('worth' in decide({ ...input, prices: { computePerHour: 3 } }).explanation).toBe(false);
  });

  it('only admissible option', () => {
    expect(decide({ ...input, tolerance: { kind: 'min-accuracy', points: 80 } }).explanation).toEqual({ kind: 'only-admissible', action: 'retrain', floor: 0.8, retrainMeasured: true });
  });

  it('no option meets the tolerance', () => {
    expect(decide({ ...input, tolerance: { kind: 'min-accuracy', points: 95 } }).explanation).toEqual({
      kind: 'no-option-meets-tolerance',
      action: 'retrain',
      accuracy: 0.81,
      floor: 0.95,
      retrainMeasured: true,
    });
  });

  it('tie broken by accuracy', () => {
    const { prices: _omitted, ...free } = input;
    expect(decide(free).steps.at(-1)).toEqual({ kind: 'decision-tie', action: 'retrain', runnerUp: 'reuse', value: 0, tieBreak: 'more-accurate' });
  });

  it('migration named first', () => {
    expect(migrated.steps[0]).toEqual({ kind: 'migration-measured', condition: 'target-distilled', method: 'distill', unlabeledImages: 500 });
  });

  it('migration named in the reason', () => {
    expect(migrated.reason).toBe('Migrate is 2.0 points more accurate than reuse (worth $20.00), for $0.15 more. Migrating by distill needs no labels.');
  });

  it('migration method recorded', () => {
    expect(migrated.explanation.migrationMethod).toBe('distill');
  });

  it('no migration method when another option wins', () => {
    const reused = decide({
      ...input,
      accuracy: { ...input.accuracy, targetMigrated: 0.6 },
      cost: { ...measured, migration: { seconds: 180, unlabeledImages: 500 } },
      migration: { method: 'distill', condition: 'target-distilled' },
    });
    expect('migrationMethod' in reused.explanation).toBe(false);
  });
});

describe('decide input errors', () => {
  const base: DecisionInput = {
    accuracy: { sourceModule: 0.8, targetZeroShot: 0.7, targetTransplanted: 0.78, targetRetrained: 0.81 },
    cost: measured,
  };

  it('rejects a negative price', () => {
    expect(() => decide({ ...base, prices: { computePerHour: -1 } })).toThrow(/prices.computePerHour is -1/);
  });

  it('rejects a NaN accuracy', () => {
    expect(() => decide({ ...base, accuracy: { ...base.accuracy, targetTransplanted: Number.NaN } })).toThrow(DecisionInputError);
  });

  it('rejects accuracy in points', () => {
    expect(() => decide({ ...base, accuracy: { ...base.accuracy, sourceModule: 80 } })).toThrow(/accuracy.sourceModule is 80/);
  });

  it('rejects drop from unmeasured retrain', () => {
    const { targetRetrained: _omitted, ...accuracy } = base.accuracy;
    expect(() => decide({ ...base, accuracy, tolerance: { kind: 'max-drop', points: 1, relativeTo: 'target-retrained' } })).toThrow(/relativeTo: 'source-module'/);
  });

  it('rejects a retrained accuracy without cost', () => {
    const { retrain: _omitted, ...cost } = measured;
    expect(() => decide({ ...base, cost })).toThrow(/Pass cost.retrain/);
  });

  it('rejects a named migration that was not measured', () => {
    expect(() => decide({ ...base, migration: { method: 'bridge', condition: 'target-bridged' } })).toThrow(/migration names bridge \(target-bridged\), but no migration was measured/);
  });

  it('rejects a migration without cost', () => {
    expect(() => decide({ ...base, accuracy: { ...base.accuracy, targetMigrated: 0.8 } })).toThrow(/Pass both or neither/);
  });

  it('rejects a minimum above 100', () => {
    expect(() => decide({ ...base, tolerance: { kind: 'min-accuracy', points: 120 } })).toThrow(/in \[0, 100\]/);
  });

  it('rejects negative seconds', () => {
    expect(() => decide({ ...base, cost: { ...measured, transplant: { seconds: -1, unlabeledImages: 0 } } })).toThrow(/cost.transplant.seconds is -1/);
  });
});

describe('conditionAccuracies', () => {
  const sets = {
    labels: ints([0, 1, 1, 0]),
    classNames: ['a', 'b'],
    sourceModule: ints([0, 1, 1, 0]), // 4/4
    targetZeroShot: ints([1, 1, 1, 1]), // 2/4
    targetTransplanted: ints([0, 1, 0, 0]), // 3/4
    extra: { 'target-migrated': ints([0, 0, 0, 0]) }, // 2/4
  };

  it('computes accuracies', () => {
    expect(conditionAccuracies(sets, 'target-migrated')).toEqual({ sourceModule: 1, targetZeroShot: 0.5, targetTransplanted: 0.75, targetMigrated: 0.5 });
  });

  it('leaves out an unmeasured retrain', () => {
    expect('targetRetrained' in conditionAccuracies(sets)).toBe(false);
  });
});
