import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { designRow } from './predictor.js';
import { forecastFeatureNames, type DepthCategory, type ForecastCoefficients } from './types.js';

/** One fitted example: the forecast evidence of a cell and the retention measured in it. */
export interface ForecastTrainingRow {
  /** Tuning method of the cell. */
  readonly method: string;
  /** `source → target` backbone names. */
  readonly backbonePair: string;
  /** Data set of the cell. */
  readonly dataset: string;
  /** Debiased linear CKA of the forecast evidence, about 0..1. */
  readonly cka: number;
  /** Zero-shot agreement of the forecast evidence, 0..1. */
  readonly zeroShotAgreement: number;
  /** Coarse attachment depth of the module. */
  readonly depthCategory: DepthCategory;
  /** accuracy(target + transplanted) / accuracy(source + module). */
  readonly retention: number;
}

const evidenceCodec = t.type({
  cka: t.union([t.number, t.null]),
  zeroShotAgreement: t.union([t.number, t.null]),
  depthCategory: t.keyof({ input: null, layers: null, output: null }),
  ckaEstimator: t.union([t.string, t.undefined]),
});

const conditionCodec = t.type({ accuracy: t.union([t.number, t.null]) });

/** Only the parts of results.json the fit reads; other fields may be anything. */
const resultsForFitCodec = t.type({
  source: t.type({ identity: t.type({ name: t.string }) }),
  target: t.type({ identity: t.type({ name: t.string }) }),
  cells: t.array(
    t.intersection([
      t.type({ key: t.type({ method: t.string, dataset: t.string }), status: t.string, conditions: t.record(t.string, conditionCodec) }),
      t.partial({ forecast: t.type({ evidence: evidenceCodec }) }),
    ]),
  ),
});

/** Counts of the cells of a results file that the fit left out, by reason. */
export interface SkippedCells {
  /** Cells whose status is not `ok`. */
  readonly notOk: number;
  /** Cells without forecast evidence (run without unlabeled images). */
  readonly noForecast: number;
  /** Cells whose retention or evidence is not a finite number (source accuracy 0, NaN CKA). */
  readonly undefinedValues: number;
  /** Cells whose source + module accuracy is below `minSourceAccuracy`, where retention is a ratio of two small, noisy numbers. */
  readonly lowSourceAccuracy: number;
  /** Cells whose forecast measured plain CKA (results written before CKA was debiased), which is not comparable across sample sizes. */
  readonly plainCka: number;
}

/** Options of {@link forecastRowsFromResults}. */
export interface ForecastRowOptions {
  /** Leave out cells whose source + module accuracy (0..1) is below this. Default 0, which keeps every cell. */
  readonly minSourceAccuracy?: number;
}

/** The fit rows of one results file and the cells left out. */
export interface ForecastRows {
  /** One row per usable cell. */
  rows: ForecastTrainingRow[];
  /** Cells left out, counted by reason. */
  skipped: SkippedCells;
}

/**
 * Extracts fit rows from a parsed results.json: every `ok` cell with forecast evidence, a finite retention
 * and a source accuracy of at least `options.minSourceAccuracy`. `origin` names the file in errors.
 */
export function forecastRowsFromResults(json: unknown, origin: string, options: ForecastRowOptions = {}): ForecastRows {
  const minSourceAccuracy = options.minSourceAccuracy ?? 0;
  if (!(minSourceAccuracy >= 0 && minSourceAccuracy <= 1)) throw new Error(`minSourceAccuracy must be a fraction from 0 to 1, got ${minSourceAccuracy}`);
  const decoded = resultsForFitCodec.decode(json);
  if (isLeft(decoded)) {
    const first = decoded.left[0];
    const path = first?.context.map((entry) => entry.key).filter((key) => key !== '').join('.') ?? '';
    throw new Error(`${origin} is not a vlm-compat results file the forecast fit can read (field ${path === '' ? '(top level)' : path} = ${JSON.stringify(first?.value)}); pass a results.json written by evaluate-transfer`);
  }

  const results = decoded.right;
  const backbonePair = `${results.source.identity.name} → ${results.target.identity.name}`;
  const rows: ForecastTrainingRow[] = [];
  let notOk = 0;
  let noForecast = 0;
  let undefinedValues = 0;
  let lowSourceAccuracy = 0;
  let plainCka = 0;

  for (const cell of results.cells) {
    if (cell.status !== 'ok') {
      notOk++;
      continue;
    }
    if (cell.forecast === undefined) {
      noForecast++;
      continue;
    }
    if (cell.forecast.evidence.ckaEstimator !== 'debiased') {
      plainCka++;
      continue;
    }
    const sourceAccuracy = cell.conditions['source-module']?.accuracy;
    const transplantedAccuracy = cell.conditions['target-transplanted']?.accuracy;
    const { cka, zeroShotAgreement, depthCategory } = cell.forecast.evidence;
    const values = [sourceAccuracy, transplantedAccuracy, cka, zeroShotAgreement];
    if (values.some((value) => typeof value !== 'number' || !Number.isFinite(value)) || sourceAccuracy === 0) {
      undefinedValues++;
      continue;
    }
    if ((sourceAccuracy as number) < minSourceAccuracy) {
      lowSourceAccuracy++;
      continue;
    }
    rows.push({
      method: cell.key.method,
      backbonePair,
      dataset: cell.key.dataset,
      cka: cka as number,
      zeroShotAgreement: zeroShotAgreement as number,
      depthCategory,
      retention: (transplantedAccuracy as number) / (sourceAccuracy as number),
    });
  }
  return { rows, skipped: { notOk, noForecast, undefinedValues, lowSourceAccuracy, plainCka } };
}

/** Inverts a small square matrix [n, n] by Gauss–Jordan elimination with partial pivoting. */
function invert(matrix: readonly number[][]): number[][] {
  const n = matrix.length;
  const a = matrix.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let column = 0; column < n; column++) {
    let pivot = column;
    for (let row = column + 1; row < n; row++) if (Math.abs(a[row]?.[column] as number) > Math.abs(a[pivot]?.[column] as number)) pivot = row;
    const pivotValue = a[pivot]?.[column] as number;
    if (Math.abs(pivotValue) < 1e-300) throw new Error('fitForecastCoefficients: the normal equations are singular; use a ridge strength above 0 or more varied cells');
    [a[column], a[pivot]] = [a[pivot] as number[], a[column] as number[]];
    const pivotRow = a[column] as number[];
    for (let j = 0; j < 2 * n; j++) pivotRow[j] = (pivotRow[j] as number) / pivotValue;
    for (let row = 0; row < n; row++) {
      if (row === column) continue;
      const current = a[row] as number[];
      const factor = current[column] as number;
      if (factor === 0) continue;
      for (let j = 0; j < 2 * n; j++) current[j] = (current[j] as number) - factor * (pivotRow[j] as number);
    }
  }
  return a.map((row) => row.slice(n));
}

function multiply(a: readonly number[][], b: readonly number[][]): number[][] {
  return a.map((row) => (b[0] ?? []).map((_, j) => row.reduce((sum, value, k) => sum + value * (b[k]?.[j] as number), 0)));
}

/** Standard normal cumulative distribution, through the Abramowitz–Stegun 7.1.26 approximation of erf (error below 1.5e-7). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const k = 1 / (1 + 0.3275911 * z);
  const erf = 1 - k * (0.254829592 + k * (-0.284496736 + k * (1.421413741 + k * (-1.453152027 + k * 1.061405429)))) * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Finds the z with P(|Z| ≤ z) = level for a standard normal Z, by bisection. */
export function twoSidedNormalQuantile(level: number): number {
  if (!(level > 0 && level < 1)) throw new Error(`level must be in (0, 1), got ${level}; use 0.95 for a 95% interval`);
  let low = 0;
  let high = 10;
  for (let i = 0; i < 100; i++) {
    const middle = (low + high) / 2;
    if (2 * normalCdf(middle) - 1 < level) low = middle;
    else high = middle;
  }
  return (low + high) / 2;
}

/** Options of {@link fitForecastCoefficients}. */
export interface FitForecastOptions {
  /** Ridge strength λ on every weight but the intercept. Default 0.1, which keeps the fit stable with a few dozen cells. */
  readonly ridge?: number;
  /** Coverage of the prediction interval. Default 0.95. */
  readonly level?: number;
  /** Description of the data and of how far to trust the fit, stored in the file. */
  readonly note: string;
  /** Time stamp to record. Default now. */
  readonly createdAt?: string;
}

/**
 * Fits the retention predictor by ridge regression: w = (XᵀX + λD)⁻¹ Xᵀy with D the identity except a 0
 * for the intercept. The residual standard deviation divides by n minus the effective degrees of freedom
 * tr((XᵀX + λD)⁻¹ XᵀX), at least 1. Throws with fewer than 2 rows.
 */
export function fitForecastCoefficients(rows: readonly ForecastTrainingRow[], options: FitForecastOptions): ForecastCoefficients {
  if (rows.length < 2) throw new Error(`fitForecastCoefficients needs at least 2 cells with forecast evidence and a measured retention, got ${rows.length}; evaluate with unlabeled images so that cells record a forecast`);
  const ridge = options.ridge ?? 0.1;
  if (!(Number.isFinite(ridge) && ridge >= 0)) throw new Error(`ridge must be a finite number ≥ 0, got ${ridge}`);
  const level = options.level ?? 0.95;
  const width = forecastFeatureNames.length;

  const x = rows.map((row) => designRow(row));
  const y = rows.map((row) => row.retention);
  const gram = Array.from({ length: width }, (_, i) => Array.from({ length: width }, (_, j) => x.reduce((sum, r) => sum + (r[i] as number) * (r[j] as number), 0)));
  const regularized = gram.map((row, i) => row.map((value, j) => value + (i === j && i > 0 ? ridge : 0)));
  const inverse = invert(regularized);
  const xty = Array.from({ length: width }, (_, i) => x.reduce((sum, r, k) => sum + (r[i] as number) * (y[k] as number), 0));
  const weights = inverse.map((row) => row.reduce((sum, value, j) => sum + value * (xty[j] as number), 0));

  const hat = multiply(inverse, gram);
  const effectiveParameters = hat.reduce((sum, row, i) => sum + (row[i] as number), 0);
  const residualSquares = x.reduce((sum, r, k) => {
    const fitted = r.reduce((s, value, i) => s + value * (weights[i] as number), 0);
    return sum + ((y[k] as number) - fitted) ** 2;
  }, 0);
  const residualStd = Math.sqrt(residualSquares / Math.max(rows.length - effectiveParameters, 1));
  const covariance = multiply(hat, inverse);

  const ranges: Record<string, [number, number]> = {};
  forecastFeatureNames.forEach((name, i) => {
    if (i === 0) return;
    const values = x.map((r) => r[i] as number);
    ranges[name] = [Math.min(...values), Math.max(...values)];
  });

  return {
    format: 'vlm-compat-forecast-coefficients',
    formatVersion: 1,
    features: [...forecastFeatureNames],
    weights,
    covariance,
    residualStd,
    ridge,
    intervalZ: twoSidedNormalQuantile(level),
    level,
    ranges,
    fittedOn: {
      cells: rows.length,
      backbonePairs: [...new Set(rows.map((row) => row.backbonePair))].sort(),
      methods: [...new Set(rows.map((row) => row.method))].sort(),
      createdAt: options.createdAt ?? new Date().toISOString(),
      note: options.note,
    },
  };
}
