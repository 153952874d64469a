import { computeMetrics, createCostRecord, conditionAccuracies, decide, defaultMetrics, perClassChange, type Prices, type Tolerance } from '../metrics/index.js';
import type { MetricValue, PredictionSets } from '../metrics/types.js';
import type { TrainReport } from '../training/types.js';
import type { MigrationRecord } from '../migrate/types.js';
import type { ClassChange, DecisionRecord } from './results.js';

/** The user's prices and tolerance for the retrain-or-reuse decision. */
export interface DecisionSettings {
  /** Prices of compute, labels, engineer time and accuracy; each one left out is 0. */
  readonly prices?: Partial<Prices>;
  /** Lowest acceptable accuracy; without it every option is admissible. */
  readonly tolerance?: Tolerance;
  /** Largest loss against target zero-shot, in accuracy points, that still counts as compatible. Default 0. */
  readonly compatibleTolerancePoints?: number;
}

/** Inputs of {@link summarizeCell} besides the prediction sets. */
export interface SummaryInput {
  /** Seed of the bootstrap resampling. */
  readonly seed: number;
  /** Bootstrap resamples; 0 turns intervals off. */
  readonly bootstrapSamples: number;
  /** Prices and tolerance. */
  readonly decision: DecisionSettings;
  /** Report of training on the source; the retrain cost estimate when `retrain` is absent. */
  readonly train: TrainReport;
  /** Report of retraining on the target, when run. */
  readonly retrain?: TrainReport;
  /** Number of classes. */
  readonly classes: number;
  /** Training examples per class (K). */
  readonly shots: number;
  /** Label-free migrations measured as extra conditions of `sets`; the most accurate one enters the decision as `migrate`. */
  readonly migrations?: readonly MigrationRecord[];
}

/** Finds the measured migration with the highest accuracy on `sets`; undefined when none ran. */
function mostAccurateMigration(sets: PredictionSets, migrations: readonly MigrationRecord[]): { record: MigrationRecord; accuracy: number } | undefined {
  let best: { record: MigrationRecord; accuracy: number } | undefined;
  for (const record of migrations) {
    if (record.status !== 'ok') continue;
    const accuracy = conditionAccuracies(sets, record.condition).targetMigrated;
    if (accuracy !== undefined && (best === undefined || accuracy > best.accuracy)) best = { record, accuracy };
  }
  return best;
}

/** Computes a cell's metrics, per-class changes and decision from its prediction sets and measured costs. */
export function summarizeCell(
  sets: PredictionSets,
  input: SummaryInput,
): {
  /** Every default metric, with bootstrap intervals when requested. */
  metrics: MetricValue[];
  /** Per-class accuracy changes, worst first. */
  perClass: ClassChange[];
  /** The retrain-or-reuse decision. */
  decision: DecisionRecord;
} {
  const tolerance = input.decision.tolerance;
  const compatibleTolerancePoints = input.decision.compatibleTolerancePoints ?? 0;
  const metrics = computeMetrics(
    sets,
    defaultMetrics(sets, { compatibleTolerancePoints }),
    input.bootstrapSamples > 0 ? { bootstrap: { samples: input.bootstrapSamples, seed: input.seed } } : {},
  );
  const migration = mostAccurateMigration(sets, input.migrations ?? []);
  const cost = createCostRecord({
    sourceTraining: input.train,
    ...(input.retrain === undefined ? {} : { retrain: input.retrain }),
    shots: input.shots,
    classes: input.classes,
    ...(migration === undefined ? {} : { migration: { seconds: migration.record.seconds, unlabeledImages: migration.record.unlabeledImages } }),
  });
  const decision = decide({
    accuracy: conditionAccuracies(sets, migration?.record.condition),
    cost,
    ...(input.decision.prices === undefined ? {} : { prices: input.decision.prices }),
    ...(tolerance === undefined ? {} : { tolerance }),
    ...(migration === undefined ? {} : { migration: { method: migration.record.method, condition: migration.record.condition } }),
  });
  const perClass = perClassChange(sets).map((row) => ({
    className: row.className,
    support: row.support,
    source: row.source,
    transplanted: row.transplanted,
    change: row.change,
  }));
  const { action, reason, arithmetic, currency, explanation, steps } = decision;
  return { metrics, perClass, decision: { action, reason, arithmetic, currency, explanation, steps } };
}
