import { describe, expect, it } from 'vitest';
import {
  decodeForecastCoefficients,
  defaultForecastCoefficients,
  fitForecastCoefficients,
  forecastRowsFromResults,
  predictRetention,
  twoSidedNormalQuantile,
  type ForecastTrainingRow,
} from '../src/forecast/index.js';
import { createRandom } from '../src/runtime/random.js';

const depths = ['input', 'layers', 'output'] as const;

/** Draws rows whose retention is an exact linear function of the evidence, plus optional noise. */
function syntheticRows(count: number, weights: readonly number[], noise = 0, seed = 1): ForecastTrainingRow[] {
  const random = createRandom(seed);
  return Array.from({ length: count }, (_, i) => {
    const depthCategory = depths[i % 3] as (typeof depths)[number];
    const cka = random.next();
    const zeroShotAgreement = random.next();
    const x = [1, cka, zeroShotAgreement, depthCategory === 'input' ? 1 : 0, depthCategory === 'layers' ? 1 : 0];
    const retention = x.reduce((sum, value, k) => sum + value * (weights[k] as number), 0) + noise * random.normal();
    return { method: `m${i % 2}`, backbonePair: 'a → b', dataset: 'd', cka, zeroShotAgreement, depthCategory, retention };
  });
}

/** Wraps cells in a minimal results.json. */
function results(cells: unknown[]): unknown {
  return { source: { identity: { name: 'a' } }, target: { identity: { name: 'b' } }, cells };
}

function cell(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    key: { method: 'coop', dataset: 'd' },
    status: 'ok',
    conditions: { 'source-module': { accuracy: 0.8 }, 'target-transplanted': { accuracy: 0.6 } },
    forecast: { evidence: { cka: 0.7, procrustesResidual: 0.4, zeroShotAgreement: 0.5, depthCategory: 'input', ckaEstimator: 'debiased' } },
    ...overrides,
  };
}

describe('fitForecastCoefficients', () => {
  const weights = [0.3, 0.5, 0.4, -0.1, 0.05];

  it('recovers exact weights without ridge', () => {
    const fitted = fitForecastCoefficients(syntheticRows(40, weights), { ridge: 0, note: 'synthetic' });
    fitted.weights.forEach((weight, i) => expect(weight).toBeCloseTo(weights[i] as number, 8));
  });

  it('has no residual on exact data', () => {
    expect(fitForecastCoefficients(syntheticRows(40, weights), { ridge: 0, note: 'synthetic' }).residualStd).toBeLessThan(1e-8);
  });

  it('estimates the noise level', () => {
    const fitted = fitForecastCoefficients(syntheticRows(2000, weights, 0.1), { ridge: 0, note: 'synthetic' });
    expect(fitted.residualStd).toBeCloseTo(0.1, 2);
  });

  it('covers about 95% of new rows', () => {
    const fitted = fitForecastCoefficients(syntheticRows(300, weights, 0.1, 2), { note: 'synthetic' });
    const fresh = syntheticRows(1000, weights, 0.1, 3);
    const covered = fresh.filter((row) => {
      const [low, high] = predictRetention(fitted, row).interval;
      return row.retention >= low && row.retention <= high;
    }).length;
    expect(covered / fresh.length).toBeGreaterThan(0.92);
    expect(covered / fresh.length).toBeLessThan(0.98);
  });

  it('shrinks weights with ridge', () => {
    const plain = fitForecastCoefficients(syntheticRows(20, weights), { ridge: 0, note: 'synthetic' });
    const shrunk = fitForecastCoefficients(syntheticRows(20, weights), { ridge: 100, note: 'synthetic' });
    expect(Math.abs(shrunk.weights[1] as number)).toBeLessThan(Math.abs(plain.weights[1] as number));
  });

  it('records ranges and provenance', () => {
    const fitted = fitForecastCoefficients(syntheticRows(10, weights), { note: 'synthetic', createdAt: '2026-01-01T00:00:00.000Z' });
    expect(fitted.fittedOn).toEqual({ cells: 10, backbonePairs: ['a → b'], methods: ['m0', 'm1'], createdAt: '2026-01-01T00:00:00.000Z', note: 'synthetic' });
    expect(fitted.ranges['depth:input']).toEqual([0, 1]);
  });

  it('writes coefficients that decode', () => {
    const fitted = fitForecastCoefficients(syntheticRows(10, weights), { note: 'synthetic' });
    expect(decodeForecastCoefficients(JSON.parse(JSON.stringify(fitted)))).toEqual(fitted);
  });

  it('rejects fewer than 2 rows', () => {
    expect(() => fitForecastCoefficients(syntheticRows(1, weights), { note: 'x' })).toThrow(/at least 2 cells/);
  });

  it('rejects a negative ridge', () => {
    expect(() => fitForecastCoefficients(syntheticRows(5, weights), { ridge: -1, note: 'x' })).toThrow(/ridge must be/);
  });
});

describe('forecastRowsFromResults', () => {
  it('computes retention from conditions', () => {
    const { rows } = forecastRowsFromResults(results([cell()]), 'r.json');
    expect(rows[0]?.retention).toBeCloseTo(0.75, 12);
  });

  it('names the backbone pair', () => {
    expect(forecastRowsFromResults(results([cell()]), 'r.json').rows[0]?.backbonePair).toBe('a → b');
  });

  it('names the data set', () => {
    expect(forecastRowsFromResults(results([cell()]), 'r.json').rows[0]?.dataset).toBe('d');
  });

  it('counts skipped cells', () => {
    const { skipped } = forecastRowsFromResults(
      results([
        cell({ status: 'failed' }),
        cell({ forecast: undefined }),
        cell({ conditions: { 'source-module': { accuracy: 0 }, 'target-transplanted': { accuracy: 0 } } }),
        cell({ forecast: { evidence: { cka: null, procrustesResidual: 0.1, zeroShotAgreement: 0.5, depthCategory: 'output', ckaEstimator: 'debiased' } } }),
        cell({ forecast: { evidence: { cka: 0.9, procrustesResidual: 0.1, zeroShotAgreement: 0.5, depthCategory: 'output' } } }),
      ]),
      'r.json',
    );
    expect(skipped).toEqual({ notOk: 1, noForecast: 1, undefinedValues: 2, lowSourceAccuracy: 0, plainCka: 1 });
  });

  it('leaves out low source accuracy', () => {
    const low = cell({ conditions: { 'source-module': { accuracy: 0.05 }, 'target-transplanted': { accuracy: 0.05 } } });
    const { rows, skipped } = forecastRowsFromResults(results([cell(), low]), 'r.json', { minSourceAccuracy: 0.1 });
    expect(rows).toHaveLength(1);
    expect(skipped.lowSourceAccuracy).toBe(1);
  });

  it('rejects a file that is not results', () => {
    expect(() => forecastRowsFromResults({ cells: 3 }, 'bad.json')).toThrow(/bad.json is not a vlm-compat results file/);
  });
});

describe('coefficients', () => {
  it('ships valid coefficients', () => {
    expect(defaultForecastCoefficients().features).toHaveLength(5);
  });

  it('rejects other features', () => {
    const changed = { ...defaultForecastCoefficients(), features: ['intercept', 'cka'] };
    expect(() => decodeForecastCoefficients(changed)).toThrow(/expects \[intercept, cka/);
  });

  it('rejects a wrong format', () => {
    expect(() => decodeForecastCoefficients({ format: 'other' }, 'my.json')).toThrow(/my.json are invalid/);
  });

  it('computes the 95% normal quantile', () => {
    expect(twoSidedNormalQuantile(0.95)).toBeCloseTo(1.959964, 5);
  });

  it('rejects a level of 1', () => {
    expect(() => twoSidedNormalQuantile(1)).toThrow(/level must be in \(0, 1\)/);
  });
});
