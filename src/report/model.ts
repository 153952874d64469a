import type { AttachmentDepth, ModuleKind } from '../adapters/types.js';
import type { MetricValue } from '../metrics/types.js';
import type { CellResult, DecisionRecord, ResultsFile } from '../pipeline/results.js';
import { conditionAccuracyOf } from './forecast.js';

/**
 * A value summarized over the seeds of one method on one data set. Fractions and ratios stay on their
 * 0..1 scale and accuracy differences are fractions too (0.05 is 5 points); renderers convert for display.
 */
export interface Statistic {
  /** Mean over the seeds with a defined value. */
  readonly mean: number;
  /** Sample standard deviation over seeds (n − 1 in the denominator); 0 when n is 1. */
  readonly std: number;
  /** Seeds with a defined value. */
  readonly n: number;
  /** Bootstrap 95% interval of the only seed, when n is 1 and the metric has one. */
  readonly interval?: readonly [number, number];
}

/** Mean per-class accuracy of a method before and after the transplant, over seeds. */
export interface ClassSummary {
  /** The class name. */
  readonly className: string;
  /** Accuracy on the source backbone with the module, 0..1. */
  readonly source: number;
  /** Accuracy on the target backbone with the transplanted module, 0..1. */
  readonly transplanted: number;
  /** transplanted − source, as a fraction. */
  readonly change: number;
}

/** How many cells of a row reached one decision. */
export interface DecisionCount {
  /** The decision. */
  readonly action: DecisionRecord['action'];
  /** Cells of the row that reached it. */
  readonly count: number;
}

/** One method at one shot count on one data set, summarized over its seeds. */
export interface MethodRow {
  /** Registry name of the method. */
  readonly method: string;
  /** Training examples per class (K). */
  readonly shots: number;
  /** The method family. */
  readonly kind: ModuleKind;
  /** Attachment depth of the module. */
  readonly depth: AttachmentDepth;
  /** Every cell of the row, by seed, whatever its status. */
  readonly cells: readonly CellResult[];
  /** `ok` when at least one seed was transplanted; otherwise `incompatible` when any seed was, else `failed`. */
  readonly status: CellResult['status'];
  /** Seeds the row's values are summarized over: the `ok` cells, or every cell when none is `ok`. */
  readonly seeds: readonly number[];
  /** Accuracy of source + module, 0..1. */
  readonly sourceAccuracy?: Statistic;
  /** Accuracy of the target zero-shot baseline, 0..1. */
  readonly zeroShotAccuracy?: Statistic;
  /** Accuracy of target + transplanted module, 0..1. */
  readonly transplantedAccuracy?: Statistic;
  /** Accuracy of the module retrained on the target, 0..1, absent unless retraining was run. */
  readonly retrainedAccuracy?: Statistic;
  /** Accuracy of target + transplanted ÷ accuracy of source + module, a ratio (1 keeps all source accuracy). */
  readonly retention?: Statistic;
  /** Gain over zero-shot, as a fraction. */
  readonly gain?: Statistic;
  /** Negative flip rate: share of test examples that source + module got right and target + transplanted gets wrong, 0..1. */
  readonly nfr?: Statistic;
  /** Recovery: (transplanted − zero-shot) ÷ (retrained − zero-shot) on the target, absent without a retrained accuracy. */
  readonly recovery?: Statistic;
  /** Wall time of training on the source, seconds. */
  readonly trainSeconds?: Statistic;
  /** Wall time of retraining on the target, seconds, absent unless retraining was run. */
  readonly retrainSeconds?: Statistic;
  /** Retrain-or-reuse decisions of the row's cells, each with the number of cells that reached it. */
  readonly decisions: readonly DecisionCount[];
  /** The three classes whose accuracy changed the least favourably, worst first. */
  readonly worstClasses: readonly ClassSummary[];
}

/** The rows of one data set, in the order their cells appear in the results. */
export interface DatasetSection {
  /** Name of the data set. */
  readonly dataset: string;
  /** Shot counts of the section's cells, ascending. */
  readonly shots: readonly number[];
  /** Seeds of the section's cells, ascending. */
  readonly seeds: readonly number[];
  /** One row per method and shot count. */
  readonly rows: readonly MethodRow[];
  /** Cells that are `incompatible` or `failed`, with their reasons, in row order. */
  readonly notTransplanted: readonly CellResult[];
}

/** Mean retention of a group of rows. */
export interface GroupRetention {
  /** Mean of the rows' mean retention, a ratio. */
  readonly mean: number;
  /** Rows (method × data set) in the group. */
  readonly rows: number;
}

/** The numbers behind the summary at the top of a report. */
export interface ReportSummary {
  /** Rows with at least one transplanted seed. */
  readonly transplantedRows: number;
  /** Transplanted rows whose mean gain over zero-shot is ≥ 0. */
  readonly compatibleRows: number;
  /** Cells rejected by the preflight check against the target backbone. */
  readonly incompatibleCells: number;
  /** Cells that ended with an error. */
  readonly failedCells: number;
  /** Mean retention per module kind, in {@link kindOrder}. */
  readonly retentionByKind: ReadonlyArray<
    {
      /** The module kind. */
      readonly kind: ModuleKind;
    } & GroupRetention
  >;
  /** Rows attached at the text input. */
  readonly shallow?: GroupRetention;
  /** Rows attached anywhere deeper than the text input. */
  readonly deep?: GroupRetention;
}

/** Everything a renderer draws, computed once from a results file. */
export interface ReportModel {
  /** The results file the model was built from. */
  readonly results: ResultsFile;
  /** The numbers behind the summary at the top of the report. */
  readonly summary: ReportSummary;
  /** One section per data set, in the order their cells appear in the results. */
  readonly datasets: readonly DatasetSection[];
}

/** Module kinds in the order reports list them. */
export const kindOrder: readonly ModuleKind[] = ['prompt', 'adapter', 'lora', 'deep', 'probe'];

/** Rows from this depth count as shallow in the summary; every deeper attachment counts as deep. */
export const shallowDepth: AttachmentDepth = 'text-input';

/** Summarizes a results file into data set sections and the summary numbers. */
export function buildReportModel(results: ResultsFile): ReportModel {
  const methodShapes = knownMethodShapes(results.cells);
  const datasets = groupBy(results.cells, (cell) => cell.key.dataset).map(([dataset, cells]) => buildSection(dataset, cells, methodShapes));
  return { results, datasets, summary: summarize(datasets) };
}

function buildSection(dataset: string, cells: readonly CellResult[], methodShapes: ReadonlyMap<string, CellResult>): DatasetSection {
  const rows = groupBy(cells, (cell) => `${cell.key.method}\u0000${cell.key.shots}`).map(([, rowCells]) => buildRow(rowCells, methodShapes));
  return {
    dataset,
    shots: uniqueSorted(cells.map((cell) => cell.key.shots)),
    seeds: uniqueSorted(cells.map((cell) => cell.key.seed)),
    rows,
    notTransplanted: rows.flatMap((row) => row.cells.filter((cell) => cell.status !== 'ok')),
  };
}

function buildRow(cells: readonly CellResult[], methodShapes: ReadonlyMap<string, CellResult>): MethodRow {
  const sorted = [...cells].sort((a, b) => a.key.seed - b.key.seed);
  const first = sorted[0] as CellResult;
  const transplanted = sorted.filter((cell) => cell.status === 'ok');
  const measured = transplanted.length > 0 ? transplanted : sorted;
  const status: CellResult['status'] =
    transplanted.length > 0 ? 'ok' : sorted.some((cell) => cell.status === 'incompatible') ? 'incompatible' : 'failed';

  // NOTE: the matrix runner records a failed or incompatible cell with placeholder kind and depth
  // (prompt, text-input), so an ok cell of the same method is trusted first.
  const shape = methodShapes.get(first.key.method) ?? first;

  const statistic = (read: (cell: CellResult) => Reading | undefined) => summarizeReadings(measured.map(read));
  return {
    method: first.key.method,
    shots: first.key.shots,
    kind: shape.kind,
    depth: shape.depth,
    cells: sorted,
    status,
    seeds: measured.map((cell) => cell.key.seed),
    sourceAccuracy: statistic((cell) => accuracyReading(cell, 'source-module', 'source-accuracy')),
    zeroShotAccuracy: statistic((cell) => accuracyReading(cell, 'target-zero-shot', 'target-zero-shot-accuracy')),
    transplantedAccuracy: statistic((cell) => accuracyReading(cell, 'target-transplanted', 'transplanted-accuracy')),
    retrainedAccuracy: statistic((cell) => accuracyReading(cell, 'target-retrained', 'retrained-accuracy')),
    retention: statistic(retentionReading),
    gain: statistic(gainReading),
    nfr: statistic(nfrReading),
    recovery: statistic(recoveryReading),
    trainSeconds: statistic((cell) => ({ value: cell.cost.train.seconds })),
    retrainSeconds: statistic((cell) => (cell.cost.retrain === undefined ? undefined : { value: cell.cost.retrain.seconds })),
    decisions: countDecisions(sorted),
    worstClasses: worstClasses(transplanted, 3),
  };
}

/** The first `ok` cell of each method, whose kind and depth the method's other cells are shown with. */
function knownMethodShapes(cells: readonly CellResult[]): Map<string, CellResult> {
  const shapes = new Map<string, CellResult>();
  for (const cell of cells) {
    if (cell.status === 'ok' && !shapes.has(cell.key.method)) shapes.set(cell.key.method, cell);
  }
  return shapes;
}

/** One cell's value of a quantity, on the fraction scale, with its bootstrap interval when there is one. */
interface Reading {
  readonly value: number;
  readonly interval?: readonly [number, number];
}

function findMetric(cell: CellResult, name: string): MetricValue | undefined {
  return cell.metrics.find((metric) => metric.name === name);
}

/** Reads a metric on the fraction scale (0.05 for 5%); undefined when absent, NaN or counted in units that do not convert. */
function metricReading(cell: CellResult, name: string): Reading | undefined {
  const metric = findMetric(cell, name);
  if (metric === undefined || !Number.isFinite(metric.value) || metric.unit === 'count') return undefined;
  const scale = metric.unit === 'points' ? 0.01 : 1;
  const interval = metric.interval;
  const finiteInterval = interval !== undefined && Number.isFinite(interval[0]) && Number.isFinite(interval[1]);
  return {
    value: metric.value * scale,
    ...(finiteInterval ? { interval: [interval[0] * scale, interval[1] * scale] as const } : {}),
  };
}


/** Reads the accuracy metric when recorded (it may carry an interval), else the condition's accuracy. */
function accuracyReading(cell: CellResult, condition: string, metricName: string): Reading | undefined {
  const metric = metricReading(cell, metricName);
  if (metric !== undefined) return metric;
  const accuracy = conditionAccuracyOf(cell, condition);
  return accuracy === undefined ? undefined : { value: accuracy };
}

/** Reads the `retention` metric, else computes accuracy(target + transplanted) / accuracy(source + module). */
function retentionReading(cell: CellResult): Reading | undefined {
  const metric = metricReading(cell, 'retention');
  if (metric !== undefined) return metric;
  const source = conditionAccuracyOf(cell, 'source-module');
  const transplanted = conditionAccuracyOf(cell, 'target-transplanted');
  if (source === undefined || transplanted === undefined || source === 0) return undefined;
  return { value: transplanted / source };
}

/** Reads the `gain-over-zero-shot` metric, else computes accuracy(target + transplanted) − accuracy(target zero-shot). */
function gainReading(cell: CellResult): Reading | undefined {
  const metric = metricReading(cell, 'gain-over-zero-shot');
  if (metric !== undefined) return metric;
  const zeroShot = conditionAccuracyOf(cell, 'target-zero-shot');
  const transplanted = conditionAccuracyOf(cell, 'target-transplanted');
  if (zeroShot === undefined || transplanted === undefined) return undefined;
  return { value: transplanted - zeroShot };
}

/** Reads the `nfr` metric, else counts negative flips / test examples from the recorded predictions. */
function nfrReading(cell: CellResult): Reading | undefined {
  const metric = metricReading(cell, 'nfr');
  if (metric !== undefined) return metric;
  const source = cell.conditions['source-module']?.predictions;
  const transplanted = cell.conditions['target-transplanted']?.predictions;
  const labels = cell.labels;
  if (source === undefined || transplanted === undefined || labels.length === 0) return undefined;
  if (source.length !== labels.length || transplanted.length !== labels.length) return undefined;
  let negativeFlips = 0;
  for (let i = 0; i < labels.length; i++) {
    if (source[i] === labels[i] && transplanted[i] !== labels[i]) negativeFlips++;
  }
  return { value: negativeFlips / labels.length };
}

/** Reads the `recovery` metric, else computes (transplanted − zero-shot) / (retrained − zero-shot) when retraining was measured. */
function recoveryReading(cell: CellResult): Reading | undefined {
  const metric = metricReading(cell, 'recovery');
  if (metric !== undefined) return metric;
  const zeroShot = conditionAccuracyOf(cell, 'target-zero-shot');
  const transplanted = conditionAccuracyOf(cell, 'target-transplanted');
  const retrained = conditionAccuracyOf(cell, 'target-retrained');
  if (zeroShot === undefined || transplanted === undefined || retrained === undefined || retrained === zeroShot) return undefined;
  return { value: (transplanted - zeroShot) / (retrained - zeroShot) };
}

/** Mean and sample standard deviation of the defined readings; undefined when there is none. */
export function summarizeReadings(readings: ReadonlyArray<Reading | undefined>): Statistic | undefined {
  const defined = readings.filter((reading): reading is Reading => reading !== undefined && Number.isFinite(reading.value));
  if (defined.length === 0) return undefined;

  const n = defined.length;
  const mean = defined.reduce((sum, reading) => sum + reading.value, 0) / n;
  const variance = n > 1 ? defined.reduce((sum, reading) => sum + (reading.value - mean) ** 2, 0) / (n - 1) : 0;
  const only = defined[0] as Reading;
  return { mean, std: Math.sqrt(variance), n, ...(n === 1 && only.interval !== undefined ? { interval: only.interval } : {}) };
}

function countDecisions(cells: readonly CellResult[]): DecisionCount[] {
  const counts = new Map<DecisionRecord['action'], number>();
  for (const cell of cells) {
    if (cell.decision !== undefined) counts.set(cell.decision.action, (counts.get(cell.decision.action) ?? 0) + 1);
  }
  return [...counts].map(([action, count]) => ({ action, count }));
}

/** Averages each class's per-class accuracies over the cells and returns the `limit` classes with the lowest change. */
function worstClasses(cells: readonly CellResult[], limit: number): ClassSummary[] {
  const byClass = new Map<string, { source: number[]; transplanted: number[]; change: number[] }>();
  for (const cell of cells) {
    for (const entry of cell.perClass) {
      if (!Number.isFinite(entry.change)) continue;
      const values = byClass.get(entry.className) ?? { source: [], transplanted: [], change: [] };
      values.source.push(entry.source);
      values.transplanted.push(entry.transplanted);
      values.change.push(entry.change);
      byClass.set(entry.className, values);
    }
  }
  const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  return [...byClass]
    .map(([className, values]) => ({ className, source: mean(values.source), transplanted: mean(values.transplanted), change: mean(values.change) }))
    .sort((a, b) => a.change - b.change)
    .slice(0, limit);
}

function summarize(datasets: readonly DatasetSection[]): ReportSummary {
  const rows = datasets.flatMap((section) => section.rows);
  const transplantedRows = rows.filter((row) => row.status === 'ok');
  const cells = rows.flatMap((row) => row.cells);
  const withRetention = transplantedRows.filter((row) => row.retention !== undefined);

  const retentionByKind = kindOrder.flatMap((kind) => {
    const group = meanRetention(withRetention.filter((row) => row.kind === kind));
    return group === undefined ? [] : [{ kind, ...group }];
  });
  const shallow = meanRetention(withRetention.filter((row) => row.depth === shallowDepth));
  const deep = meanRetention(withRetention.filter((row) => row.depth !== shallowDepth));

  return {
    transplantedRows: transplantedRows.length,
    compatibleRows: transplantedRows.filter((row) => row.gain !== undefined && row.gain.mean >= 0).length,
    incompatibleCells: cells.filter((cell) => cell.status === 'incompatible').length,
    failedCells: cells.filter((cell) => cell.status === 'failed').length,
    retentionByKind,
    ...(shallow === undefined ? {} : { shallow }),
    ...(deep === undefined ? {} : { deep }),
  };
}

function meanRetention(rows: readonly MethodRow[]): GroupRetention | undefined {
  if (rows.length === 0) return undefined;
  const total = rows.reduce((sum, row) => sum + (row.retention as Statistic).mean, 0);
  return { mean: total / rows.length, rows: rows.length };
}

/** Groups items by key, keeping the order in which each key first appears. */
function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Array<[string, T[]]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return [...groups];
}

function uniqueSorted(values: readonly number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}
