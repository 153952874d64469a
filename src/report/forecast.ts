import type { CellResult, ResultsFile } from '../pipeline/results.js';
import { formatPercent, formatSeconds } from './format.js';
import type { ReportMessages } from './i18n.js';

/** One cell's forecast next to the retention measured after it. */
export interface ForecastRow {
  /** Data set of the cell. */
  readonly dataset: string;
  /** Tuning method of the cell. */
  readonly method: string;
  /** Training examples per class (K). */
  readonly shots: number;
  /** Seed of the cell. */
  readonly seed: number;
  /** Forecast retention, as a ratio (1 = all accuracy kept). */
  readonly predicted: number;
  /** Prediction interval of the forecast, as ratios. */
  readonly interval: readonly [number, number];
  /** Measured accuracy(target + transplanted) / accuracy(source + module). */
  readonly measured: number;
  /** True when the measured retention lies inside the interval. */
  readonly inside: boolean;
  /** Forecast time, seconds. */
  readonly seconds: number;
  /** Wall time of target zero-shot plus target + transplanted prediction, seconds, when recorded. */
  readonly evaluationSeconds?: number;
}

/** Every forecast of a results file against its measurement, with how well they agree. */
export interface ForecastSummary {
  /** One row per `ok` cell that has both a forecast and a measured retention, in results order. */
  readonly rows: readonly ForecastRow[];
  /** Spearman rank correlation between forecast and measured retention; undefined for fewer than 3 rows or constant values. */
  readonly rankCorrelation?: number;
  /** Mean of |measured − predicted|, as a ratio. */
  readonly meanAbsoluteError: number;
  /** Share of rows whose measured retention lies inside the forecast interval, 0..1. */
  readonly coverage: number;
  /** Coverage the intervals aim at, such as 0.95 (from the first forecast). */
  readonly level: number;
  /**
   * Total forecast time against the total time of the transplanted evaluations it anticipates (target
   * zero-shot plus target + transplanted prediction), over the rows that recorded both.
   */
  readonly cost?: {
    /** Summed forecast time, seconds. */
    readonly forecastSeconds: number;
    /** Summed evaluation time, seconds. */
    readonly evaluationSeconds: number;
  };
}

/** Accuracy of a condition of a cell when it was measured and is finite. */
export function conditionAccuracyOf(cell: CellResult, condition: string): number | undefined {
  const accuracy = cell.conditions[condition]?.accuracy;
  return accuracy === undefined || !Number.isFinite(accuracy) ? undefined : accuracy;
}

/** Ranks of `values` from 1, ties sharing the mean of their ranks. */
function ranks(values: readonly number[]): number[] {
  const order = values.map((value, index) => ({ value, index })).sort((a, b) => a.value - b.value);
  const result = new Array<number>(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && (order[end + 1] as { value: number }).value === (order[start] as { value: number }).value) end++;
    const shared = (start + end) / 2 + 1;
    for (let i = start; i <= end; i++) result[(order[i] as { index: number }).index] = shared;
    start = end + 1;
  }
  return result;
}

/**
 * Spearman's rank correlation of two equally long lists: Pearson's correlation of their ranks, ties sharing
 * their mean rank. Returns undefined for fewer than 3 pairs or when either list is constant.
 */
export function spearmanCorrelation(a: readonly number[], b: readonly number[]): number | undefined {
  if (a.length !== b.length) throw new RangeError(`spearmanCorrelation needs two lists of one length, got ${a.length} and ${b.length}`);
  if (a.length < 3) return undefined;
  const ra = ranks(a);
  const rb = ranks(b);
  const mean = (ra.length + 1) / 2;
  let covariance = 0;
  let varianceA = 0;
  let varianceB = 0;
  for (let i = 0; i < ra.length; i++) {
    const da = (ra[i] as number) - mean;
    const db = (rb[i] as number) - mean;
    covariance += da * db;
    varianceA += da * da;
    varianceB += db * db;
  }
  if (varianceA === 0 || varianceB === 0) return undefined;
  return covariance / Math.sqrt(varianceA * varianceB);
}

/**
 * Pairs every forecast in `results` with the retention measured afterwards and summarizes their agreement.
 * Returns undefined when no cell carries a forecast.
 */
export function summarizeForecasts(results: ResultsFile): ForecastSummary | undefined {
  const rows: ForecastRow[] = [];
  let level: number | undefined;
  for (const cell of results.cells) {
    const forecast = cell.forecast;
    if (cell.status !== 'ok' || forecast === undefined) continue;
    const source = conditionAccuracyOf(cell, 'source-module');
    const transplanted = conditionAccuracyOf(cell, 'target-transplanted');
    if (source === undefined || transplanted === undefined || source === 0) continue;
    const measured = transplanted / source;
    const zeroShotSeconds = cell.conditions['target-zero-shot']?.seconds;
    const transplantedSeconds = cell.conditions['target-transplanted']?.seconds;
    const evaluationSeconds = zeroShotSeconds === undefined || transplantedSeconds === undefined ? undefined : zeroShotSeconds + transplantedSeconds;
    const [low, high] = forecast.interval;
    level ??= forecast.level;
    rows.push({
      dataset: cell.key.dataset,
      method: cell.key.method,
      shots: cell.key.shots,
      seed: cell.key.seed,
      predicted: forecast.predictedRetention,
      interval: [low, high],
      measured,
      inside: measured >= low && measured <= high,
      seconds: forecast.seconds,
      ...(evaluationSeconds === undefined ? {} : { evaluationSeconds }),
    });
  }
  if (rows.length === 0 || level === undefined) return undefined;
  const rankCorrelation = spearmanCorrelation(
    rows.map((row) => row.predicted),
    rows.map((row) => row.measured),
  );
  const timed = rows.filter((row) => row.evaluationSeconds !== undefined);
  const cost =
    timed.length === 0
      ? undefined
      : { forecastSeconds: timed.reduce((sum, row) => sum + row.seconds, 0), evaluationSeconds: timed.reduce((sum, row) => sum + (row.evaluationSeconds as number), 0) };
  return {
    rows,
    ...(rankCorrelation === undefined ? {} : { rankCorrelation }),
    ...(cost === undefined ? {} : { cost }),
    meanAbsoluteError: rows.reduce((sum, row) => sum + Math.abs(row.measured - row.predicted), 0) / rows.length,
    coverage: rows.filter((row) => row.inside).length / rows.length,
    level,
  };
}

/** Accuracy of one cell under every condition a migration comparison shows; absent where not measured. */
export interface MigrationRow {
  /** Data set of the cell. */
  readonly dataset: string;
  /** Tuning method of the cell. */
  readonly method: string;
  /** Training examples per class (K). */
  readonly shots: number;
  /** Seed of the cell. */
  readonly seed: number;
  /** Accuracy of source + module, 0..1. */
  readonly source?: number;
  /** Accuracy of target zero-shot, 0..1. */
  readonly zeroShot?: number;
  /** Accuracy of target + transplanted module, 0..1. */
  readonly transplanted?: number;
  /** Accuracy of the bridged module on the target, 0..1; absent when the bridge did not run or does not apply. */
  readonly bridged?: number;
  /** Accuracy of the distilled module on the target, 0..1. */
  readonly distilled?: number;
  /** Accuracy of the module retrained on the target with labels, 0..1. */
  readonly retrained?: number;
  /** Reason each requested migration did not apply, by migration method. */
  readonly notApplicable: Readonly<Record<string, string>>;
}

/** Lists the `ok` cells that measured at least one label-free migration; empty when none did. */
export function migrationRows(results: ResultsFile): MigrationRow[] {
  const rows: MigrationRow[] = [];
  for (const cell of results.cells) {
    if (cell.status !== 'ok' || cell.migrations === undefined || cell.migrations.length === 0) continue;
    const read = (condition: string) => conditionAccuracyOf(cell, condition);
    const optional = (name: string, value: number | undefined) => (value === undefined ? {} : { [name]: value });
    const notApplicable: Record<string, string> = {};
    for (const record of cell.migrations) if (record.status === 'not-applicable') notApplicable[record.method] = record.reason ?? '';
    rows.push({
      dataset: cell.key.dataset,
      method: cell.key.method,
      shots: cell.key.shots,
      seed: cell.key.seed,
      ...optional('source', read('source-module')),
      ...optional('zeroShot', read('target-zero-shot')),
      ...optional('transplanted', read('target-transplanted')),
      ...optional('bridged', read('target-bridged')),
      ...optional('distilled', read('target-distilled')),
      ...optional('retrained', read('target-retrained')),
      notApplicable,
    });
  }
  return rows;
}

/** A table of a report section as text: a note over it, its header and its rows. */
export interface TextTable {
  /** Paragraph shown above the table. */
  readonly note: string;
  /** Column names. */
  readonly header: readonly string[];
  /** Cell texts, one array per row, as long as `header`. */
  readonly rows: readonly (readonly string[])[];
  /** Indices of the columns that hold numbers, which renderers right-align. */
  readonly numericColumns: ReadonlySet<number>;
}

/** Labels a cell by method and seed, adding the shot count when the results hold several. */
function cellLabeller(results: ResultsFile, messages: ReportMessages): (row: { method: string; seed: number; shots: number }) => string {
  const severalShots = new Set(results.cells.map((cell) => cell.key.shots)).size > 1;
  return (row) => messages.cellLabel(row.method, row.seed, severalShots ? row.shots : undefined);
}

/** Builds the forecast-against-measured table of a report; undefined when no cell has a forecast. */
export function forecastTable(results: ResultsFile, messages: ReportMessages): TextTable | undefined {
  const summary = summarizeForecasts(results);
  if (summary === undefined) return undefined;
  const label = cellLabeller(results, messages);
  const inside = summary.rows.filter((row) => row.inside).length;
  const cost = summary.cost;
  const costNote =
    cost === undefined || cost.evaluationSeconds <= 0
      ? ''
      : messages.sentenceSeparator + messages.forecastCost(formatSeconds(cost.forecastSeconds), formatSeconds(cost.evaluationSeconds), formatPercent(cost.forecastSeconds / cost.evaluationSeconds));
  return {
    note:
      messages.forecastSummary(
        summary.rows.length,
        summary.rankCorrelation === undefined ? undefined : summary.rankCorrelation.toFixed(2),
        (summary.meanAbsoluteError * 100).toFixed(1),
        inside,
        formatPercent(summary.level),
      ) + costNote,
    header: messages.forecastColumns,
    rows: summary.rows.map((row) => [
      row.dataset,
      label(row),
      formatPercent(row.predicted),
      `${formatPercent(row.interval[0])}–${formatPercent(row.interval[1])}`,
      formatPercent(row.measured),
      messages.insideInterval(row.inside),
    ]),
    numericColumns: new Set([2, 3, 4]),
  };
}

/** Builds the label-free migration table of a report; undefined when no cell measured a migration. */
export function migrationTable(results: ResultsFile, messages: ReportMessages): TextTable | undefined {
  const rows = migrationRows(results);
  if (rows.length === 0) return undefined;
  const label = cellLabeller(results, messages);
  const accuracy = (row: MigrationRow, value: number | undefined, migration?: string) => {
    if (value !== undefined) return formatPercent(value);
    return migration !== undefined && row.notApplicable[migration] !== undefined ? messages.notApplicable : messages.notAvailable;
  };
  return {
    note: messages.migrationNote,
    header: messages.migrationColumns,
    rows: rows.map((row) => [
      row.dataset,
      label(row),
      accuracy(row, row.source),
      accuracy(row, row.zeroShot),
      accuracy(row, row.transplanted),
      accuracy(row, row.bridged, 'bridge'),
      accuracy(row, row.distilled, 'distill'),
      accuracy(row, row.retrained),
    ]),
    numericColumns: new Set([2, 3, 4, 5, 6, 7]),
  };
}
