import { describe, expect, test } from 'vitest';
import {
  buildReportModel,
  escapeHtml,
  escapeMarkdown,
  formatPercent,
  formatPercentStatistic,
  formatPoints,
  formatPointsStatistic,
  shortHash,
} from '../src/report/index.js';
import { summarizeReadings } from '../src/report/model.js';
import { sampleResults } from './fixtures/sample-results.js';

describe('summarizeReadings', () => {
  test('mean and sample std', () => {
    const statistic = summarizeReadings([{ value: 0.8 }, { value: 0.9 }, { value: 1.0 }]);
    expect(statistic?.mean).toBeCloseTo(0.9, 12);
    expect(statistic?.std).toBeCloseTo(0.1, 12);
    expect(statistic?.n).toBe(3);
  });

  test('skips undefined and NaN', () => {
    const statistic = summarizeReadings([undefined, { value: Number.NaN }, { value: 0.5 }]);
    expect(statistic).toEqual({ mean: 0.5, std: 0, n: 1 });
  });

  test('interval kept for one seed', () => {
    expect(summarizeReadings([{ value: 0.5, interval: [0.4, 0.6] }])?.interval).toEqual([0.4, 0.6]);
  });

  test('interval dropped for several seeds', () => {
    expect(summarizeReadings([{ value: 0.5, interval: [0.4, 0.6] }, { value: 0.7 }])?.interval).toBeUndefined();
  });

  test('nothing defined', () => {
    expect(summarizeReadings([undefined])).toBeUndefined();
  });
});

describe('buildReportModel', () => {
  const model = buildReportModel(sampleResults);
  const pets = model.datasets[1];

  test('data sets in order of appearance', () => {
    expect(model.datasets.map((section) => section.dataset)).toEqual(['eurosat', 'oxford-pets']);
  });

  test('kind of a stopped cell from its method', () => {
    const lora = pets?.rows.find((row) => row.method === 'clip-lora');
    expect(lora?.kind).toBe('lora');
    expect(lora?.depth).toBe('both-layers');
    expect(lora?.status).toBe('incompatible');
  });

  test('failed seed kept in the row', () => {
    const vpt = model.datasets[0]?.rows.find((row) => row.method === 'vpt-deep');
    expect(vpt?.cells.map((cell) => cell.status)).toEqual(['ok', 'ok', 'failed']);
    expect(vpt?.seeds).toEqual([1, 2]);
  });

  test('stopped cells listed', () => {
    expect(model.datasets.flatMap((section) => section.notTransplanted.map((cell) => `${cell.key.method}/${cell.key.seed}`))).toEqual(['vpt-deep/3', 'clip-lora/1']);
  });

  test('summary counts', () => {
    expect(model.summary.transplantedRows).toBe(7);
    expect(model.summary.compatibleRows).toBe(5);
    expect(model.summary.incompatibleCells).toBe(1);
    expect(model.summary.failedCells).toBe(1);
  });

  test('shallow and deep groups', () => {
    expect(model.summary.shallow?.rows).toBe(2);
    expect(model.summary.deep?.rows).toBe(5);
    expect(model.summary.shallow?.mean).toBeCloseTo(34 / 36, 12);
  });
});

describe('formatting', () => {
  test('percent with one decimal', () => {
    expect(formatPercent(0.7125)).toBe('71.3%');
  });

  test('NaN as dash', () => {
    expect(formatPercent(Number.NaN)).toBe('—');
  });

  test('points with sign', () => {
    expect(formatPoints(0.031)).toBe('+3.1 pt');
    expect(formatPoints(-0.125)).toBe('-12.5 pt');
  });

  test('percent interval', () => {
    expect(formatPercentStatistic({ mean: 0.712, std: 0, n: 1, interval: [0.68, 0.741] })).toBe('71.2% (68.0–74.1)');
  });

  test('points over seeds', () => {
    expect(formatPointsStatistic({ mean: -0.02, std: 0.005, n: 4 })).toBe('-2.0 pt ± 0.5');
  });

  test('short hash', () => {
    expect(shortHash('5806e77cd80f8b59890b7e101eabd078')).toBe('5806e77cd80f');
  });

  test('HTML escape', () => {
    expect(escapeHtml(`<b>&"'`)).toBe('&lt;b&gt;&amp;&quot;&#39;');
  });

  test('Markdown escape', () => {
    expect(escapeMarkdown('a|b *c*\n<d>')).toBe('a\\|b \\*c\\* &lt;d&gt;');
  });
});
