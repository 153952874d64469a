import { describe, expect, test } from 'vitest';
import { formatReasonInEnglish, formatStepInEnglish, type DecisionExplanation, type DecisionStep } from '../src/metrics/index.js';
import type { MigrationRecord } from '../src/migrate/types.js';
import { summarizeCell } from '../src/pipeline/summarize.js';
import { messagesFor } from '../src/report/index.js';
import type { TrainReport } from '../src/training/types.js';

const english = messagesFor('en');
const japanese = messagesFor('ja');

interface ReasonCase {
  readonly name: string;
  readonly explanation: DecisionExplanation;
  readonly currency: string;
  readonly en: string;
  readonly ja: string;
}

const reasonCases: readonly ReasonCase[] = [
  {
    name: 'no option meets tolerance',
    explanation: { kind: 'no-option-meets-tolerance', action: 'retrain', accuracy: 0.85, floor: 0.9, retrainMeasured: true },
    currency: '$',
    en: 'No option reaches the tolerance of 90.0%. Retrain is the most accurate at 85.0%.',
    ja: '許容範囲（精度 90.0% 以上）を満たす選択肢はありません。最も精度が高いのは「再学習」で、85.0% です。',
  },
  {
    name: 'only admissible, retrain unmeasured',
    explanation: { kind: 'only-admissible', action: 'reuse', floor: 0.77, retrainMeasured: false },
    currency: '$',
    en: 'Reuse is the only option that meets the tolerance of 77.0%. Retraining was not measured, so it was not weighed.',
    ja: '許容範囲（精度 77.0% 以上）を満たす選択肢は「再利用」だけです。再学習は測定していないため、比較に含めていません。',
  },
  {
    name: 'less accurate but cheaper',
    explanation: { kind: 'compared', action: 'reuse', runnerUp: 'retrain', points: -7, worth: 350, costDifference: -617.5, retrainMeasured: true },
    currency: '$',
    en: 'Reuse is 7.0 points less accurate than retrain (worth $350.00), and $617.50 cheaper.',
    ja: '「再利用」は「再学習」より精度が 7.0 ポイント低い（$350.00 相当）ものの、費用は $617.50 安く済みます。',
  },
  {
    name: 'more accurate and dearer',
    explanation: { kind: 'compared', action: 'retrain', runnerUp: 'reuse', points: 7, worth: 700, costDifference: 617.5, retrainMeasured: true },
    currency: '$',
    en: 'Retrain is 7.0 points more accurate than reuse (worth $700.00), for $617.50 more.',
    ja: '「再学習」は「再利用」より精度が 7.0 ポイント高く（$700.00 相当）、費用は $617.50 多くかかります。',
  },
  {
    name: 'as accurate and cheaper',
    explanation: { kind: 'compared', action: 'zero-shot', runnerUp: 'reuse', points: 0, costDifference: -2, retrainMeasured: true },
    currency: '$',
    en: 'Zero-shot is as accurate as reuse, and $2.00 cheaper.',
    ja: '「ゼロショットに戻す」は「再利用」と精度が同じで、費用は $2.00 安く済みます。',
  },
  {
    name: 'as accurate at the same cost',
    explanation: { kind: 'compared', action: 'reuse', runnerUp: 'zero-shot', points: 0.01, costDifference: 0.001, retrainMeasured: true },
    currency: '$',
    en: 'Reuse is as accurate as zero-shot, at the same cost.',
    ja: '「再利用」は「ゼロショットに戻す」と精度も費用も同じです。',
  },
  {
    name: 'less accurate at the same cost',
    explanation: { kind: 'compared', action: 'zero-shot', runnerUp: 'reuse', points: -4, costDifference: -0.0005, retrainMeasured: true },
    currency: '$',
    en: 'Zero-shot is 4.0 points less accurate than reuse, at the same cost.',
    ja: '「ゼロショットに戻す」は「再利用」より精度が 4.0 ポイント低く、費用は同じです。',
  },
  {
    name: 'migration with method',
    explanation: { kind: 'compared', action: 'migrate', runnerUp: 'retrain', points: 1, costDifference: -10, retrainMeasured: true, migrationMethod: 'bridge' },
    currency: 'EUR ',
    en: 'Migrate is 1.0 points more accurate than retrain, and EUR 10.00 cheaper. Migrating by bridge needs no labels.',
    ja: '「移行」は「再学習」より精度が 1.0 ポイント高く、費用は EUR 10.00 安く済みます。bridge による移行はラベルを必要としません。',
  },
];

interface StepCase {
  readonly name: string;
  readonly step: DecisionStep;
  readonly en: string;
  readonly ja: string;
}

const retrainCost = {
  kind: 'retrain-cost',
  hours: 0.12,
  computePerHour: 3,
  labelledExamples: 64,
  perLabelledExample: 0.5,
  engineerHours: 2,
  perEngineerHour: 80,
  total: 192.36,
} as const;

const stepCases: readonly StepCase[] = [
  { name: 'no tolerance', step: { kind: 'tolerance-none' }, en: 'tolerance: none set, so every option is admissible', ja: '許容範囲：未設定のため、すべての選択肢が対象' },
  { name: 'minimum accuracy', step: { kind: 'tolerance-min-accuracy', points: 80 }, en: 'tolerance: accuracy ≥ 80.0%', ja: '許容範囲：精度 ≥ 80.0%' },
  {
    name: 'drop from source',
    step: { kind: 'tolerance-max-drop', relativeTo: 'source-module', reference: 0.8, points: 5, floor: 0.75 },
    en: 'tolerance: accuracy ≥ 80.0% (source + module) − 5.0 points = 75.0%',
    ja: '許容範囲：精度 ≥ 80.0%（ソース + モジュール）− 5.0 ポイント = 75.0%',
  },
  {
    name: 'drop from retrained',
    step: { kind: 'tolerance-max-drop', relativeTo: 'target-retrained', reference: 0.82, points: 2, floor: 0.8 },
    en: 'tolerance: accuracy ≥ 82.0% (retrained on the target) − 2.0 points = 80.0%',
    ja: '許容範囲：精度 ≥ 82.0%（ターゲットで再学習）− 2.0 ポイント = 80.0%',
  },
  {
    name: 'retrain cost known',
    step: { kind: 'retrain-not-weighed', costMeasured: true },
    en: 'retrain: accuracy not measured, so it is not weighed',
    ja: '「再学習」：精度を測定していないため、比較に含めない',
  },
  {
    name: 'retrain unknown',
    step: { kind: 'retrain-not-weighed', costMeasured: false },
    en: 'retrain: neither accuracy nor cost measured, so it is not weighed',
    ja: '「再学習」：精度も費用も測定していないため、比較に含めない',
  },
  {
    name: 'migration measured',
    step: { kind: 'migration-measured', condition: 'target-bridged', method: 'bridge', unlabeledImages: 500 },
    en: 'migrate: target-bridged, by bridge from 500 unlabeled images and no labels, the most accurate measured migration',
    ja: '「移行」：target-bridged（bridge、ラベルなし画像 500 枚、ラベル 0 件）、測定した移行のうち最も精度が高いもの',
  },
  { name: 'accuracy without tolerance', step: { kind: 'option-accuracy', action: 'reuse', accuracy: 0.78 }, en: 'reuse: accuracy 78.0%', ja: '「再利用」：精度 78.0%' },
  {
    name: 'accuracy meets tolerance',
    step: { kind: 'option-accuracy', action: 'retrain', accuracy: 0.81, meetsTolerance: true },
    en: 'retrain: accuracy 81.0%, meets the tolerance',
    ja: '「再学習」：精度 81.0%、許容範囲を満たす',
  },
  {
    name: 'accuracy below tolerance',
    step: { kind: 'option-accuracy', action: 'zero-shot', accuracy: 0.7, meetsTolerance: false },
    en: 'zero-shot: accuracy 70.0%, below the tolerance',
    ja: '「ゼロショットに戻す」：精度 70.0%、許容範囲を下回る',
  },
  {
    name: 'retrain cost on target',
    step: { ...retrainCost, measuredOn: 'target', weighed: true },
    en: 'retrain cost = 0.12 h × $3.00/h + 64 labels × $0.50 + 2 engineer h × $80.00/h = $192.36',
    ja: '「再学習」の費用 = 0.12 時間 × $3.00/時間 + ラベル 64 件 × $0.50 + エンジニア 2 時間 × $80.00/時間 = $192.36',
  },
  {
    name: 'retrain cost estimated',
    step: { ...retrainCost, measuredOn: 'source', weighed: true },
    en: 'retrain cost (estimated from training on the source) = 0.12 h × $3.00/h + 64 labels × $0.50 + 2 engineer h × $80.00/h = $192.36',
    ja: '「再学習」の費用（ソースでの学習から見積もり） = 0.12 時間 × $3.00/時間 + ラベル 64 件 × $0.50 + エンジニア 2 時間 × $80.00/時間 = $192.36',
  },
  {
    name: 'retrain cost for reference',
    step: { ...retrainCost, measuredOn: 'target', weighed: false },
    en: 'retrain cost (measured on the target, for reference) = 0.12 h × $3.00/h + 64 labels × $0.50 + 2 engineer h × $80.00/h = $192.36',
    ja: '「再学習」の費用（ターゲットで測定、参考値） = 0.12 時間 × $3.00/時間 + ラベル 64 件 × $0.50 + エンジニア 2 時間 × $80.00/時間 = $192.36',
  },
  {
    name: 'estimate for reference',
    step: { ...retrainCost, measuredOn: 'source', weighed: false },
    en: 'retrain cost (estimated from training on the source, for reference) = 0.12 h × $3.00/h + 64 labels × $0.50 + 2 engineer h × $80.00/h = $192.36',
    ja: '「再学習」の費用（ソースでの学習から見積もり、参考値） = 0.12 時間 × $3.00/時間 + ラベル 64 件 × $0.50 + エンジニア 2 時間 × $80.00/時間 = $192.36',
  },
  {
    name: 'reuse cost',
    step: { kind: 'label-free-cost', action: 'reuse', hours: 2 / 3600, computePerHour: 3, engineerHours: 0, perEngineerHour: 80, unlabeledImages: 0, total: 2 / 1200 },
    en: 'reuse cost = 0.000556 h × $3.00/h = $0.00',
    ja: '「再利用」の費用 = 0.000556 時間 × $3.00/時間 = $0.00',
  },
  {
    name: 'migration cost',
    step: { kind: 'label-free-cost', action: 'migrate', hours: 0.05, computePerHour: 3, engineerHours: 1, perEngineerHour: 80, unlabeledImages: 500, total: 80.15 },
    en: 'migrate cost = 0.05 h × $3.00/h + 1 engineer h × $80.00/h = $80.15 (500 unlabeled images, 0 labels)',
    ja: '「移行」の費用 = 0.05 時間 × $3.00/時間 + エンジニア 1 時間 × $80.00/時間 = $80.15（ラベルなし画像 500 枚、ラベル 0 件）',
  },
  {
    name: 'value lost',
    step: { kind: 'value-lost', action: 'zero-shot', mostAccurate: 'retrain', points: 11, perAccuracyPoint: 50, amount: 550 },
    en: 'value lost by falling back to zero-shot instead of retraining = 11.0 points × $50.00/point = $550.00',
    ja: '「再学習」ではなく「ゼロショットに戻す」を選ぶと失う価値 = 11.0 ポイント × $50.00/ポイント = $550.00',
  },
  {
    name: 'negative value',
    step: { kind: 'option-value', action: 'retrain', accuracy: 0.82, perAccuracyPoint: 10, cost: 2080.36, value: -1260.36 },
    en: 'retrain value = 82.0 points × $10.00/point − $2080.36 = -$1260.36',
    ja: '「再学習」の価値 = 82.0 ポイント × $10.00/ポイント − $2080.36 = -$1260.36',
  },
  {
    name: 'most accurate chosen',
    step: { kind: 'decision-most-accurate', action: 'retrain' },
    en: 'decision: retrain, the most accurate option, because none meets the tolerance',
    ja: '判定：「再学習」。許容範囲を満たす選択肢がないため、最も精度が高いものを選択',
  },
  {
    name: 'only admissible chosen',
    step: { kind: 'decision-only-admissible', action: 'reuse' },
    en: 'decision: reuse, the only option that meets the tolerance',
    ja: '判定：「再利用」。許容範囲を満たす唯一の選択肢',
  },
  {
    name: 'highest value chosen',
    step: { kind: 'decision-highest-value', action: 'reuse', value: 3900 },
    en: 'decision: reuse, the highest value among admissible options ($3900.00)',
    ja: '判定：「再利用」。許容範囲を満たす選択肢のうち、価値が最も高い（$3900.00）',
  },
  {
    name: 'tie broken by accuracy',
    step: { kind: 'decision-tie', action: 'retrain', runnerUp: 'reuse', value: 0, tieBreak: 'more-accurate' },
    en: 'decision: retrain, tied with reuse at the highest value ($0.00) and more accurate',
    ja: '判定：「再学習」。価値が最も高い（$0.00）点で「再利用」と並び、精度がより高い',
  },
  {
    name: 'tie broken by cost',
    step: { kind: 'decision-tie', action: 'zero-shot', runnerUp: 'reuse', value: 0, tieBreak: 'cheaper' },
    en: 'decision: zero-shot, tied with reuse at the highest value ($0.00) and as accurate, but cheaper',
    ja: '判定：「ゼロショットに戻す」。価値が最も高い（$0.00）点で「再利用」と並び、精度は同じで、費用がより安い',
  },
  {
    name: 'tie broken by order',
    step: { kind: 'decision-tie', action: 'reuse', runnerUp: 'zero-shot', value: 0, tieBreak: 'order' },
    en: 'decision: reuse, tied with zero-shot at the highest value ($0.00), as accurate and as costly, and first in the order reuse, zero-shot, retrain, migrate',
    ja: '判定：「再利用」。価値が最も高い（$0.00）点で「ゼロショットに戻す」と並び、精度も費用も同じため、「再利用」「ゼロショットに戻す」「再学習」「移行」の順で先にくるものを選択',
  },
];

describe('decision reason messages', () => {
  test.each(reasonCases)('English: $name', ({ explanation, currency, en }) => {
    expect(english.decisionReason(explanation, currency)).toBe(en);
  });

  test.each(reasonCases)('Japanese: $name', ({ explanation, currency, ja }) => {
    expect(japanese.decisionReason(explanation, currency)).toBe(ja);
  });

  test.each(reasonCases)('English message is the stored wording: $name', ({ explanation, currency }) => {
    expect(english.decisionReason(explanation, currency)).toBe(formatReasonInEnglish(explanation, currency));
  });

  test('every explanation kind covered', () => {
    expect(new Set(reasonCases.map((entry) => entry.explanation.kind))).toEqual(new Set(['no-option-meets-tolerance', 'only-admissible', 'compared']));
  });
});

describe('decision step messages', () => {
  test.each(stepCases)('English: $name', ({ step, en }) => {
    expect(english.decisionStep(step, '$')).toBe(en);
  });

  test.each(stepCases)('Japanese: $name', ({ step, ja }) => {
    expect(japanese.decisionStep(step, '$')).toBe(ja);
  });

  test.each(stepCases)('English message is the stored wording: $name', ({ step }) => {
    expect(english.decisionStep(step, '$')).toBe(formatStepInEnglish(step, '$'));
  });

  test('every step kind covered', () => {
    expect(new Set(stepCases.map((entry) => entry.step.kind)).size).toBe(14);
  });

  test('currency label in Japanese', () => {
    expect(japanese.decisionStep({ kind: 'decision-highest-value', action: 'reuse', value: 1200 }, '¥')).toBe(
      '判定：「再利用」。許容範囲を満たす選択肢のうち、価値が最も高い（¥1200.00）',
    );
  });
});

describe('summarizeCell decision record', () => {
  const train: TrainReport = { seconds: 432, examplesSeen: 640, steps: 40, epochs: 10, trainableParameters: 2048, backend: 'cpu', finalLoss: 0.4 };
  // 10 examples of 2 classes: source 10/10, zero-shot 5/10, transplanted 6/10, bridged 9/10.
  const labels = Int32Array.from([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  const sets = {
    labels,
    classNames: ['cat', 'dog'],
    sourceModule: labels,
    targetZeroShot: Int32Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    targetTransplanted: Int32Array.from([0, 0, 0, 0, 0, 1, 0, 0, 0, 0]),
    extra: { 'target-bridged': Int32Array.from([0, 0, 0, 0, 0, 1, 1, 1, 1, 0]) },
  };
  const bridge: MigrationRecord = { method: 'bridge', condition: 'target-bridged', status: 'ok', seconds: 180, unlabeledImages: 500, labelsUsed: 0 };
  const { decision } = summarizeCell(sets, { seed: 1, bootstrapSamples: 0, decision: {}, train, classes: 2, shots: 4, migrations: [bridge] });

  test('migration chosen', () => {
    expect(decision.action).toBe('migrate');
  });

  test('English reason names the migration', () => {
    expect(decision.reason).toBe(
      'Migrate is 30.0 points more accurate than reuse, at the same cost. Retraining was not measured, so it was not weighed. Migrating by bridge needs no labels.',
    );
  });

  test('first line names the migration', () => {
    expect(decision.arithmetic[0]).toBe('migrate: target-bridged, by bridge from 500 unlabeled images and no labels, the most accurate measured migration');
  });

  test('first step names the migration', () => {
    expect(decision.steps?.[0]).toEqual({ kind: 'migration-measured', condition: 'target-bridged', method: 'bridge', unlabeledImages: 500 });
  });

  test('one step per line', () => {
    expect(decision.steps?.map((step) => formatStepInEnglish(step, '$'))).toEqual(decision.arithmetic);
  });

  test('explanation records the method', () => {
    expect(decision.explanation?.migrationMethod).toBe('bridge');
  });

  test('Japanese reason', () => {
    const explanation = decision.explanation as DecisionExplanation;
    expect(japanese.decisionReason(explanation, decision.currency ?? '')).toBe(
      '「移行」は「再利用」より精度が 30.0 ポイント高く、費用は同じです。再学習は測定していないため、比較に含めていません。bridge による移行はラベルを必要としません。',
    );
  });

  test('currency stored', () => {
    expect(decision.currency).toBe('$');
  });
});
