import { describe, expect, it } from 'vitest';
import type { CompatibilityForecast } from '../src/forecast/types.js';
import type { MigrationRecord } from '../src/migrate/types.js';
import type { CellResult, ResultsFile } from '../src/pipeline/results.js';
import { migrationRows, spearmanCorrelation, summarizeForecasts } from '../src/report/forecast.js';
import { renderHtml, renderMarkdown, ResultsValidationError, validateResults } from '../src/report/index.js';
import { sampleResults } from './fixtures/sample-results.js';

function forecastOf(predictedRetention: number, interval: [number, number]): CompatibilityForecast {
  return {
    predictedRetention,
    interval,
    level: 0.9,
    evidence: { featureSet: 'image', cka: 0.8, procrustesResidual: 0.3, zeroShotAgreement: 0.7, depthCategory: 'output', images: 32, classPrompts: 5 },
    extrapolated: [],
    calibration: 'test',
    source: sampleResults.source.identity,
    target: sampleResults.target.identity,
    seconds: 0.5,
  };
}

function measured(cell: CellResult): number {
  return (cell.conditions['target-transplanted']?.accuracy as number) / (cell.conditions['source-module']?.accuracy as number);
}

/** Gives every ok cell a forecast equal to its measured retention minus `offset`, with an interval of ± `halfWidth`. */
function withForecasts(offset: (cell: CellResult, index: number) => number, halfWidth: number): ResultsFile {
  return {
    ...sampleResults,
    cells: sampleResults.cells.map((cell, index) => {
      if (cell.status !== 'ok') return cell;
      const predicted = measured(cell) - offset(cell, index);
      return { ...cell, forecast: forecastOf(predicted, [predicted - halfWidth, predicted + halfWidth]) };
    }),
  };
}

const okCells = sampleResults.cells.filter((cell) => cell.status === 'ok');

describe('spearmanCorrelation', () => {
  it('is 1 for the same order', () => {
    expect(spearmanCorrelation([1, 2, 3, 4], [10, 20, 35, 90])).toBeCloseTo(1, 12);
  });

  it('is -1 for the reverse order', () => {
    expect(spearmanCorrelation([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
  });

  it('gives tied values their mean rank', () => {
    // Ranks [1, 2.5, 2.5, 4] against [1, 2, 3, 4]: Pearson of the ranks is 0.9486833.
    expect(spearmanCorrelation([1, 5, 5, 9], [1, 2, 3, 4])).toBeCloseTo(0.9486833, 6);
  });

  it('is undefined for a constant list', () => {
    expect(spearmanCorrelation([2, 2, 2], [1, 2, 3])).toBeUndefined();
  });

  it('is undefined for two pairs', () => {
    expect(spearmanCorrelation([1, 2], [1, 2])).toBeUndefined();
  });

  it('rejects lists of different lengths', () => {
    expect(() => spearmanCorrelation([1, 2, 3], [1, 2])).toThrow(/one length, got 3 and 2/);
  });
});

describe('summarizeForecasts', () => {
  it('is undefined without forecasts', () => {
    expect(summarizeForecasts(sampleResults)).toBeUndefined();
  });

  it('has a row per ok cell', () => {
    expect(summarizeForecasts(withForecasts(() => 0, 0.1))?.rows).toHaveLength(okCells.length);
  });

  it('measures retention from the conditions', () => {
    const row = summarizeForecasts(withForecasts(() => 0.05, 0.1))?.rows[0];
    expect(row?.measured).toBeCloseTo(measured(okCells[0] as CellResult), 12);
  });

  it('averages the absolute error', () => {
    expect(summarizeForecasts(withForecasts((_, i) => (i % 2 === 0 ? 0.1 : -0.1), 0.5))?.meanAbsoluteError).toBeCloseTo(0.1, 12);
  });

  it('counts measurements inside the interval', () => {
    // Offsets alternate 0 and 0.2 with a half-width of 0.1: cells at an even index are inside.
    const summary = summarizeForecasts(withForecasts((_, i) => (i % 2 === 0 ? 0 : 0.2), 0.1));
    const inside = sampleResults.cells.filter((cell, i) => cell.status === 'ok' && i % 2 === 0).length;
    expect(summary?.coverage).toBeCloseTo(inside / okCells.length, 12);
  });

  it('ranks a perfect forecast at 1', () => {
    expect(summarizeForecasts(withForecasts(() => 0, 0.1))?.rankCorrelation).toBeCloseTo(1, 12);
  });

  it('leaves the cost out without prediction times', () => {
    expect(summarizeForecasts(withForecasts(() => 0, 0.1))?.cost).toBeUndefined();
  });

  it('sums forecast and evaluation time', () => {
    const timed: ResultsFile = {
      ...withForecasts(() => 0, 0.1),
      cells: withForecasts(() => 0, 0.1).cells.map((cell) => ({
        ...cell,
        conditions: Object.fromEntries(Object.entries(cell.conditions).map(([name, c]) => [name, { ...c, seconds: 2 }])),
      })),
    };
    // Each forecast takes 0.5 s; each cell's zero-shot and transplanted predictions take 2 s each.
    expect(summarizeForecasts(timed)?.cost).toEqual({ forecastSeconds: 0.5 * okCells.length, evaluationSeconds: 4 * okCells.length });
  });

  it('keeps the interval level', () => {
    expect(summarizeForecasts(withForecasts(() => 0, 0.1))?.level).toBe(0.9);
  });
});

const bridgedRecord: MigrationRecord = { method: 'bridge', condition: 'target-bridged', status: 'ok', seconds: 1, unlabeledImages: 40, labelsUsed: 0 };
const rejectedRecord: MigrationRecord = { method: 'bridge', condition: 'target-bridged', status: 'not-applicable', reason: 'acts on text input', seconds: 0, unlabeledImages: 0, labelsUsed: 0 };

/** Returns the sample with a bridged condition on its first ok cell and a rejected bridge on its second. */
function withMigrations(): ResultsFile {
  const first = okCells[0] as CellResult;
  const second = okCells[1] as CellResult;
  return {
    ...sampleResults,
    cells: sampleResults.cells.map((cell) => {
      if (cell === first) return { ...first, migrations: [bridgedRecord], conditions: { ...first.conditions, 'target-bridged': { accuracy: 0.625, predictions: [] } } };
      if (cell === second) return { ...second, migrations: [rejectedRecord] };
      return cell;
    }),
  };
}

describe('report sections', () => {
  const forecasted = withForecasts(() => 0, 0.1);

  it('adds the forecast heading', () => {
    expect(renderMarkdown(forecasted)).toContain('## Forecast against measured retention');
  });

  it('states the rank correlation', () => {
    expect(renderMarkdown(forecasted)).toContain('Spearman rank correlation with the measured retention: 1.00.');
  });

  it('lists a row per forecast cell', () => {
    const table = renderMarkdown(forecasted).split('## Forecast against measured retention')[1] ?? '';
    expect(table.split('\n').filter((line) => line.startsWith('| ') && line.endsWith(' | yes |'))).toHaveLength(okCells.length);
  });

  it('leaves the sections out without forecasts', () => {
    expect(renderMarkdown(sampleResults)).not.toContain('Forecast against');
  });

  it('marks a migration that does not apply', () => {
    expect(renderMarkdown(withMigrations())).toContain('does not apply');
  });

  it('shows the bridged accuracy', () => {
    expect(renderMarkdown(withMigrations())).toMatch(/## Label-free migration[\s\S]*\| 62\.5% \|/);
  });

  it('translates the headings', () => {
    expect(renderMarkdown(forecasted, { lang: 'ja' })).toContain('## 保持率の予測と実測');
  });

  it('renders the forecast table in HTML', () => {
    expect(renderHtml(forecasted)).toContain('<h2>Forecast against measured retention</h2>');
  });
});

describe('validateResults with label-free fields', () => {
  const json = () => JSON.parse(JSON.stringify(withMigrations())) as { cells: Array<Record<string, any>> };

  it('keeps a forecast', () => {
    const results = validateResults(JSON.parse(JSON.stringify(withForecasts(() => 0, 0.1))));
    expect(results.cells.find((cell) => cell.forecast !== undefined)?.forecast?.level).toBe(0.9);
  });

  it('rejects a forecast without an interval', () => {
    const edited = JSON.parse(JSON.stringify(withForecasts(() => 0, 0.1))) as { cells: Array<Record<string, any>> };
    const cell = edited.cells.find((c) => c.forecast !== undefined);
    delete cell?.forecast.interval;
    expect(() => validateResults(edited)).toThrow(ResultsValidationError);
  });

  it('rejects a migration that used labels', () => {
    const edited = json();
    const cell = edited.cells.find((c) => c.migrations !== undefined);
    if (cell !== undefined) cell.migrations[0].labelsUsed = 5;
    expect(() => validateResults(edited)).toThrow(/labelsUsed/);
  });
});

describe('migrationRows', () => {
  const withMigration = withMigrations();

  it('is empty without migrations', () => {
    expect(migrationRows(sampleResults)).toEqual([]);
  });

  it('reads the bridged accuracy', () => {
    expect(migrationRows(withMigration)[0]?.bridged).toBe(0.625);
  });

  it('leaves out an unmeasured condition', () => {
    expect(migrationRows(withMigration)[0]?.distilled).toBeUndefined();
  });

  it('keeps the reason a migration did not apply', () => {
    expect(migrationRows(withMigration)[1]?.notApplicable).toEqual({ bridge: 'acts on text input' });
  });
});
