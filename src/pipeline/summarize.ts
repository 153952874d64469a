import { computeMetrics, createCostRecord, conditionAccuracies, decide, defaultMetrics, perClassChange, type Prices, type Tolerance } from '../metrics/index.js';
import type { MetricValue, PredictionSets } from '../metrics/types.js';
import type { TrainReport } from '../training/types.js';
import type { ClassChange, DecisionRecord } from './results.js';

/** The user's prices and tolerance for the retrain-or-reuse decision. */
export interface DecisionSettings {
  readonly prices?: Partial<Prices>;
  readonly tolerance?: Tolerance;
  /** Largest loss against target zero-shot, in accuracy points, that still counts as compatible. Default 0. */
  readonly compatibleTolerancePoints?: number;
}

/** Inputs of {@link summarizeCell} besides the prediction sets. */
export interface SummaryInput {
  readonly seed: number;
  /** Bootstrap resamples; 0 turns intervals off. */
  readonly bootstrapSamples: number;
  readonly decision: DecisionSettings;
  readonly train: TrainReport;
  readonly retrain?: TrainReport;
  readonly classes: number;
  readonly shots: number;
}

/** Computes a cell's metrics, per-class changes and decision from its prediction sets and measured costs. */
export function summarizeCell(sets: PredictionSets, input: SummaryInput): { metrics: MetricValue[]; perClass: ClassChange[]; decision: DecisionRecord } {
  const tolerance = input.decision.tolerance;
  const compatibleTolerancePoints = input.decision.compatibleTolerancePoints ?? 0;
  const metrics = computeMetrics(
    sets,
    defaultMetrics(sets, { compatibleTolerancePoints }),
    input.bootstrapSamples > 0 ? { bootstrap: { samples: input.bootstrapSamples, seed: input.seed } } : {},
  );
  const cost = createCostRecord({
    sourceTraining: input.train,
    ...(input.retrain === undefined ? {} : { retrain: input.retrain }),
    shots: input.shots,
    classes: input.classes,
  });
  const decision = decide({
    accuracy: conditionAccuracies(sets),
    cost,
    ...(input.decision.prices === undefined ? {} : { prices: input.decision.prices }),
    ...(tolerance === undefined ? {} : { tolerance }),
  });
  const perClass = perClassChange(sets).map((row) => ({
    className: row.className,
    support: row.support,
    source: row.source,
    transplanted: row.transplanted,
    change: row.change,
  }));
  return { metrics, perClass, decision: { action: decision.action, reason: decision.reason, arithmetic: decision.arithmetic } };
}
