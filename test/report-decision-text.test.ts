import { describe, expect, test } from 'vitest';
import { createCostRecord, decide, type DecisionAccuracies } from '../src/metrics/index.js';
import type { CellResult, DecisionRecord, ResultsFile } from '../src/pipeline/results.js';
import { renderHtml, renderJson, renderMarkdown, validateResults } from '../src/report/index.js';
import { sampleResults, sampleResultsJson } from './fixtures/sample-results.js';
import { validationError } from './fixtures/validation.js';

/** Decides a cell of the sample the way the pipeline does, with prices set so that the arithmetic has amounts. */
function structuredDecision(cell: CellResult): DecisionRecord {
  const accuracyOf = (condition: string): number | undefined => cell.conditions[condition]?.accuracy;
  const retrained = accuracyOf('target-retrained');
  const accuracy: DecisionAccuracies = {
    sourceModule: accuracyOf('source-module') as number,
    targetZeroShot: accuracyOf('target-zero-shot') as number,
    targetTransplanted: accuracyOf('target-transplanted') as number,
    ...(retrained === undefined ? {} : { targetRetrained: retrained }),
  };
  const cost = createCostRecord({
    sourceTraining: cell.cost.train,
    ...(cell.cost.retrain === undefined ? {} : { retrain: cell.cost.retrain }),
    shots: cell.key.shots,
    classes: cell.classNames.length,
  });
  const decision = decide({
    accuracy,
    cost,
    prices: { computePerHour: 3, perLabelledExample: 0.5, perEngineerHour: 80, engineerHoursPerRetrain: 2, perAccuracyPoint: 20 },
    tolerance: { kind: 'max-drop', points: 3, relativeTo: 'source-module' },
  });
  const { action, reason, arithmetic, currency, explanation, steps } = decision;
  return { action, reason, arithmetic, currency, explanation, steps };
}

/** The sample with every decision made by `decide`, so that each carries its structured record. */
const structured: ResultsFile = {
  ...sampleResults,
  cells: sampleResults.cells.map((cell) => (cell.decision === undefined ? cell : { ...cell, decision: structuredDecision(cell) })),
};

/** The structured sample with `currency`, `explanation` and `steps` removed, as an earlier version wrote it. */
const stripped: ResultsFile = {
  ...structured,
  cells: structured.cells.map((cell) => {
    if (cell.decision === undefined) return cell;
    const { action, reason, arithmetic } = cell.decision;
    return { ...cell, decision: { action, reason, arithmetic } };
  }),
};

const decided = structured.cells.filter((cell) => cell.decision !== undefined);

function cellOf(results: ResultsFile, dataset: string, method: string, seed: number): CellResult {
  const cell = results.cells.find((c) => c.key.dataset === dataset && c.key.method === method && c.key.seed === seed);
  if (cell === undefined) throw new Error(`the sample has no ${method} cell of seed ${seed} on ${dataset}`);
  return cell;
}

/** Returns the parsed JSON of the structured sample with one change made by `edit`. */
function editedJson(edit: (json: any) => void): unknown {
  const json = JSON.parse(renderJson(structured));
  edit(json);
  return json;
}

describe('Japanese report of structured decisions', () => {
  const markdown = renderMarkdown(structured, { lang: 'ja' });
  const html = renderHtml(structured, { lang: 'ja' });

  test('Markdown reason in Japanese', () => {
    expect(markdown).toContain(
      '- coop（シード 3）: **再利用** — 「再利用」は「再学習」より精度が 7.5 ポイント低い（$150.00 相当）ものの、費用は $200.04 安く済みます。',
    );
  });

  test('Markdown arithmetic in Japanese', () => {
    expect(markdown).toContain('\n  - 許容範囲：精度 ≥ 95.0%（ソース + モジュール）− 3.0 ポイント = 92.0%\n');
  });

  test('Markdown no admissible option in Japanese', () => {
    expect(markdown).toContain(
      '- clip-adapter（シード 1）: **ゼロショットに戻す** — 許容範囲（精度 92.0% 以上）を満たす選択肢はありません。最も精度が高いのは「ゼロショットに戻す」で、75.0% です。再学習は測定していないため、比較に含めていません。',
    );
  });

  test('Markdown decision line in Japanese', () => {
    expect(markdown).toContain('\n  - 判定：「再利用」。許容範囲を満たす選択肢のうち、価値が最も高い（$1750.00）\n');
  });

  test('Markdown unmeasured retrain in Japanese', () => {
    expect(markdown).toContain('  - 「再学習」の費用（ソースでの学習から見積もり、参考値） = 0.00142 時間 × $3.00/時間 + ラベル 64 件 × $0.50 + エンジニア 2 時間 × $80.00/時間 = $192.00');
  });

  test('Markdown without English reasons', () => {
    for (const cell of decided) expect(markdown).not.toContain((cell.decision as DecisionRecord).reason);
  });

  test('Markdown without English arithmetic', () => {
    expect(markdown).not.toMatch(/^ {2}- (tolerance|decision|reuse|retrain|zero-shot)[: ]/m);
  });

  test('HTML reason in Japanese', () => {
    expect(html).toContain(
      '<strong>再利用</strong> — 「再利用」は「再学習」より精度が 7.5 ポイント低い（$150.00 相当）ものの、費用は $200.04 安く済みます。',
    );
  });

  test('HTML without English reasons', () => {
    for (const cell of decided) expect(html).not.toContain((cell.decision as DecisionRecord).reason);
  });

  test('HTML arithmetic in Japanese', () => {
    expect(html).toContain('<li>許容範囲：精度 ≥ 95.0%（ソース + モジュール）− 3.0 ポイント = 92.0%</li>');
  });
});

describe('English report of structured decisions', () => {
  test('Markdown unchanged', () => {
    expect(renderMarkdown(structured)).toBe(renderMarkdown(stripped));
  });

  test('HTML unchanged', () => {
    expect(renderHtml(structured)).toBe(renderHtml(stripped));
  });

  test('Markdown shows the stored reason', () => {
    const decision = cellOf(structured, 'eurosat', 'clip-adapter', 1).decision as DecisionRecord;
    expect(renderMarkdown(structured)).toContain(`- clip-adapter, seed 1: **retrain** — ${decision.reason}`);
  });
});

describe('decision record without structured fields', () => {
  test('old file validates', () => {
    expect(validateResults(sampleResultsJson()).cells).toHaveLength(16);
  });

  test('Japanese report keeps stored reason', () => {
    const markdown = renderMarkdown(validateResults(sampleResultsJson()), { lang: 'ja' });
    expect(markdown).toContain('- coop（シード 3）: **再利用** — Reusing meets the tolerance of 87.0% at the lowest cost.');
  });

  test('Japanese report keeps stored arithmetic', () => {
    const markdown = renderMarkdown(validateResults(sampleResultsJson()), { lang: 'ja' });
    expect(markdown).toContain('  - decision: reuse, the cheapest option that meets the tolerance');
  });

  test('explanation without steps keeps stored text', () => {
    const json = editedJson((copy) => delete copy.cells[0].decision.steps);
    const markdown = renderMarkdown(validateResults(json), { lang: 'ja' });
    expect(markdown).toContain(`**再学習** — ${(structured.cells[0]?.decision as DecisionRecord).reason}`);
  });
});

describe('decision record in results.json', () => {
  const parsed = JSON.parse(renderJson(structured));

  test('reads back equal', () => {
    expect(validateResults(parsed)).toEqual(structured);
  });

  test('decision keys in order', () => {
    expect(Object.keys(parsed.cells[0].decision)).toEqual(['action', 'reason', 'arithmetic', 'currency', 'explanation', 'steps']);
  });

  test('explanation keys in order', () => {
    const compared = parsed.cells.find((cell: any) => cell.decision?.explanation.kind === 'compared');
    expect(Object.keys(compared.decision.explanation)).toEqual(['kind', 'action', 'runnerUp', 'points', 'worth', 'costDifference', 'retrainMeasured']);
  });

  test('step keys in order', () => {
    const step = parsed.cells[0].decision.steps.find((s: any) => s.kind === 'retrain-cost');
    expect(Object.keys(step)).toEqual([
      'kind',
      'measuredOn',
      'weighed',
      'hours',
      'computePerHour',
      'labelledExamples',
      'perLabelledExample',
      'engineerHours',
      'perEngineerHour',
      'total',
    ]);
  });

  test('rejects an unknown step kind', () => {
    const error = validationError(editedJson((copy) => (copy.cells[0].decision.steps[1].kind = 'tolerance-maybe')));
    expect(error?.issues.map((issue) => issue.path)).toEqual(['cells[0].decision.steps[1].kind']);
  });

  test('unknown step kind message', () => {
    const error = validationError(editedJson((copy) => (copy.cells[0].decision.steps[1].kind = 'tolerance-maybe')));
    expect(error?.message).toContain('cells[0].decision.steps[1].kind is "tolerance-maybe" (expected "tolerance-none" | "tolerance-min-accuracy"');
  });

  test('rejects an unknown explanation kind', () => {
    const error = validationError(editedJson((copy) => (copy.cells[0].decision.explanation.kind = 'guessed')));
    expect(error?.issues[0]?.path).toBe('cells[0].decision.explanation.kind');
  });

  test('rejects a step without kind', () => {
    const error = validationError(editedJson((copy) => delete copy.cells[0].decision.steps[0].kind));
    expect(error?.message).toContain('cells[0].decision.steps[0].kind is missing');
  });

  test('rejects a step that is not an object', () => {
    const error = validationError(editedJson((copy) => (copy.cells[0].decision.steps[2] = 'reuse: accuracy 85.0%')));
    expect(error?.issues[0]?.path).toBe('cells[0].decision.steps[2]');
  });

  test('names a bad field of a step', () => {
    const error = validationError(editedJson((copy) => (copy.cells[0].decision.steps[0].points = '3')));
    expect(error?.message).toContain('cells[0].decision.steps[0].points is "3" (expected number)');
  });

  test('names a missing field of a step', () => {
    const error = validationError(editedJson((copy) => delete copy.cells[0].decision.steps[0].floor));
    expect(error?.message).toContain('cells[0].decision.steps[0].floor is missing (expected number)');
  });

  test('rejects an unknown tie-break', () => {
    const error = validationError(
      editedJson((copy) => copy.cells[0].decision.steps.push({ kind: 'decision-tie', action: 'reuse', runnerUp: 'retrain', value: 0, tieBreak: 'coin' })),
    );
    expect(error?.issues[0]?.path).toMatch(/^cells\[0\]\.decision\.steps\[\d+\]\.tieBreak$/);
  });
});
