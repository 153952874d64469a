import { MetricOptionsError } from './errors.js';
import { checkLengths, conditionPredictions, type ConditionName } from './sets.js';
import type { CompatibilityMetric, PredictionSets } from './types.js';

const emptyTestSet = 'The test set is empty.';
const retrainMissing = 'The retrain reference (target-retrained) was not measured.';

function correctCount(predictions: Int32Array, labels: Int32Array): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
  return correct;
}

/** Share of test examples that `condition` classifies correctly, or NaN when it was not measured or the test set is empty. */
function conditionAccuracy(sets: PredictionSets, condition: ConditionName): number {
  checkLengths(sets);
  const predictions = conditionPredictions(sets, condition);
  if (predictions === undefined || sets.labels.length === 0) return Number.NaN;
  return correctCount(predictions, sets.labels) / sets.labels.length;
}

function explainAccuracy(sets: PredictionSets, condition: ConditionName): string {
  if (conditionPredictions(sets, condition) === undefined) return `The condition ${condition} was not measured.`;
  return emptyTestSet;
}

/** Counts of test examples by whether the old and the new condition classify them correctly. */
interface FlipCounts {
  readonly total: number;
  readonly bothRight: number;
  /** Negative flips: old right, new wrong. */
  readonly oldRightNewWrong: number;
  /** Positive flips: old wrong, new right. */
  readonly oldWrongNewRight: number;
  readonly bothWrong: number;
}

/** Counts flips from source + module (old) to target + transplanted (new). */
function countFlips(sets: PredictionSets): FlipCounts {
  checkLengths(sets);
  const { labels, sourceModule: old, targetTransplanted: updated } = sets;
  let bothRight = 0;
  let oldRightNewWrong = 0;
  let oldWrongNewRight = 0;
  let bothWrong = 0;
  for (let i = 0; i < labels.length; i++) {
    const oldRight = old[i] === labels[i];
    const newRight = updated[i] === labels[i];
    if (oldRight && newRight) bothRight++;
    else if (oldRight) oldRightNewWrong++;
    else if (newRight) oldWrongNewRight++;
    else bothWrong++;
  }
  return { total: labels.length, bothRight, oldRightNewWrong, oldWrongNewRight, bothWrong };
}

const accuracyMetricNames: Record<string, string> = {
  'source-module': 'source-accuracy',
  'target-zero-shot': 'target-zero-shot-accuracy',
  'target-transplanted': 'transplanted-accuracy',
  'target-retrained': 'retrained-accuracy',
};

/**
 * Creates the accuracy metric of one condition. Standard conditions get the names `source-accuracy`,
 * `target-zero-shot-accuracy`, `transplanted-accuracy` and `retrained-accuracy`, and an extra
 * condition `x` gets `x-accuracy`. The value is NaN when the condition was not measured.
 */
export function accuracyMetric(condition: ConditionName): CompatibilityMetric {
  return {
    name: accuracyMetricNames[condition] ?? `${condition}-accuracy`,
    unit: 'fraction',
    direction: 'higher-is-better',
    compute: (sets) => conditionAccuracy(sets, condition),
    explainUndefined: (sets) => explainAccuracy(sets, condition),
  };
}

/** Accuracy of the module on the source backbone, the reference the transplant is compared with. */
export const sourceAccuracyMetric = accuracyMetric('source-module');
/** Accuracy of the target backbone with hand-written prompts and no module. */
export const targetZeroShotAccuracyMetric = accuracyMetric('target-zero-shot');
/** Accuracy of the source's module moved unchanged onto the target backbone. */
export const transplantedAccuracyMetric = accuracyMetric('target-transplanted');
/** Accuracy of the module trained afresh on the target backbone, or NaN when retraining was not measured. */
export const retrainedAccuracyMetric = accuracyMetric('target-retrained');

/** Creates one accuracy metric per extra condition of `sets`, in the order of `sets.extra`. */
export function extraAccuracyMetrics(sets: PredictionSets): CompatibilityMetric[] {
  return Object.keys(sets.extra ?? {}).map((condition) => accuracyMetric(condition));
}

/** `retention` = accuracy(target + transplanted) / accuracy(source + module), or NaN when the source accuracy is 0. */
export const retentionMetric: CompatibilityMetric = {
  name: 'retention',
  unit: 'ratio',
  direction: 'higher-is-better',
  compute: (sets) => {
    const source = conditionAccuracy(sets, 'source-module');
    return source === 0 ? Number.NaN : conditionAccuracy(sets, 'target-transplanted') / source;
  },
  explainUndefined: (sets) => (sets.labels.length === 0 ? emptyTestSet : 'Source + module classified no test example correctly, so retention divides by 0.'),
};

/** Accuracy(target + transplanted) − accuracy(target zero-shot), as a fraction. */
function gainOverZeroShot(sets: PredictionSets): number {
  return conditionAccuracy(sets, 'target-transplanted') - conditionAccuracy(sets, 'target-zero-shot');
}

/**
 * `gain-over-zero-shot` = accuracy(target + transplanted) − accuracy(target zero-shot), in fraction units
 * (0.05 is 5 accuracy points). A negative gain means the transplanted module is worse than no module.
 */
export const gainOverZeroShotMetric: CompatibilityMetric = {
  name: 'gain-over-zero-shot',
  unit: 'fraction',
  direction: 'higher-is-better',
  compute: gainOverZeroShot,
  explainUndefined: () => emptyTestSet,
};

/** Slack for comparing a gain with a tolerance, so that a gain of exactly −tolerance passes despite rounding. */
const comparisonSlack = 1e-12;

/**
 * Creates the `compatible` metric: 1 when gain over zero-shot ≥ −`tolerancePoints` / 100, else 0.
 * `tolerancePoints` is the largest loss against the target zero-shot baseline, in accuracy points, that
 * still counts as compatible. With the default 0, a module is compatible when it does not lose to zero-shot.
 */
export function compatibleMetric(tolerancePoints = 0): CompatibilityMetric {
  if (!Number.isFinite(tolerancePoints) || tolerancePoints < 0) {
    throw new MetricOptionsError(
      'compatibleTolerancePoints',
      `The compatible tolerance ${tolerancePoints} is invalid. Pass a number of accuracy points ≥ 0, such as 0 or 1.5.`,
    );
  }
  return {
    name: 'compatible',
    unit: 'boolean',
    direction: 'higher-is-better',
    compute: (sets) => {
      const gain = gainOverZeroShot(sets);
      if (Number.isNaN(gain)) return Number.NaN;
      return gain >= -tolerancePoints / 100 - comparisonSlack ? 1 : 0;
    },
    explainUndefined: () => emptyTestSet,
  };
}

/**
 * `recovery` = (transplanted − zero-shot) / (retrained − zero-shot), accuracies on the target: the share of
 * the retrained module's gain over zero-shot that the transplant keeps. NaN when retraining was not measured
 * or when the retrained module is exactly as accurate as zero-shot.
 */
export const recoveryMetric: CompatibilityMetric = {
  name: 'recovery',
  unit: 'ratio',
  direction: 'higher-is-better',
  compute: (sets) => {
    const denominator = conditionAccuracy(sets, 'target-retrained') - conditionAccuracy(sets, 'target-zero-shot');
    return denominator === 0 ? Number.NaN : gainOverZeroShot(sets) / denominator;
  },
  explainUndefined: (sets) => {
    if (sets.targetRetrained === undefined) return retrainMissing;
    if (sets.labels.length === 0) return emptyTestSet;
    return 'The retrained module is exactly as accurate as zero-shot, so recovery divides by 0.';
  },
};

/**
 * `nfr`, negative flip rate: the share of test examples that source + module (old) classifies correctly and
 * target + transplanted (new) gets wrong: negative flips / test examples. The metric comes from Yan et al.,
 * "Positive-Congruent Training: Towards Regression-Free Model Updates" (CVPR 2021). The formula was checked
 * against the implementation that cites that paper in amazon-science/regression-constraint-model-upgrade
 * (ConstrainedUpgrade/metrics/performance_regression_metrics.py), as were PFR and NFI.
 */
export const negativeFlipRateMetric: CompatibilityMetric = {
  name: 'nfr',
  unit: 'fraction',
  direction: 'lower-is-better',
  compute: (sets) => {
    const counts = countFlips(sets);
    return counts.total === 0 ? Number.NaN : counts.oldRightNewWrong / counts.total;
  },
  explainUndefined: () => emptyTestSet,
};

/** `pfr`, positive flip rate (Yan et al., CVPR 2021): the share of test examples that old gets wrong and new classifies correctly. */
export const positiveFlipRateMetric: CompatibilityMetric = {
  name: 'pfr',
  unit: 'fraction',
  direction: 'higher-is-better',
  compute: (sets) => {
    const counts = countFlips(sets);
    return counts.total === 0 ? Number.NaN : counts.oldWrongNewRight / counts.total;
  },
  explainUndefined: () => emptyTestSet,
};

/**
 * `nfi`, negative flip impact (Yan et al., CVPR 2021): negative flips / errors of the new condition, which
 * equals NFR / (1 − accuracy(new)). It is the share of the new condition's errors that the old one did not
 * make. NaN when target + transplanted makes no error, because then there is no error to attribute.
 */
export const negativeFlipImpactMetric: CompatibilityMetric = {
  name: 'nfi',
  unit: 'fraction',
  direction: 'lower-is-better',
  compute: (sets) => {
    const counts = countFlips(sets);
    const newErrors = counts.oldRightNewWrong + counts.bothWrong;
    return newErrors === 0 ? Number.NaN : counts.oldRightNewWrong / newErrors;
  },
  explainUndefined: (sets) => (sets.labels.length === 0 ? emptyTestSet : 'Target + transplanted made no error, so NFI divides by 0.'),
};

/**
 * `btc`, backward trust compatibility: the share of test examples classified correctly by source + module
 * (old) that target + transplanted (new) also classifies correctly, so BTC = 1 − NFR / accuracy(old).
 * BTC and BEC come from Bansal et al. (AAAI 2019) and Srivastava et al., "An Empirical Analysis of Backward
 * Compatibility in Machine Learning Systems" (KDD 2020), as cited by the microsoft/BackwardCompatibilityML
 * documentation. This formula was checked against trust_compatibility_score in that library's scores.py.
 * NaN when old classifies no example correctly.
 */
export const backwardTrustCompatibilityMetric: CompatibilityMetric = {
  name: 'btc',
  unit: 'fraction',
  direction: 'higher-is-better',
  compute: (sets) => {
    const counts = countFlips(sets);
    const oldRight = counts.bothRight + counts.oldRightNewWrong;
    return oldRight === 0 ? Number.NaN : counts.bothRight / oldRight;
  },
  explainUndefined: (sets) => (sets.labels.length === 0 ? emptyTestSet : 'Source + module classified no test example correctly, so BTC divides by 0.'),
};

/**
 * `bec`, backward error compatibility: the share of the errors of target + transplanted (new) that source +
 * module (old) also made, that is, the probability that an error of the new condition is not a new error.
 * Follows the description in the microsoft/BackwardCompatibilityML documentation (docs overview), which
 * accompanies Srivastava et al., KDD 2020. NaN when new makes no error.
 *
 * NOTE: error_compatibility_score in that library's scores.py divides by the old model's errors instead of
 * the new model's. This metric divides by the new condition's errors, as the documentation describes.
 */
export const backwardErrorCompatibilityMetric: CompatibilityMetric = {
  name: 'bec',
  unit: 'fraction',
  direction: 'higher-is-better',
  compute: (sets) => {
    const counts = countFlips(sets);
    const newErrors = counts.oldRightNewWrong + counts.bothWrong;
    return newErrors === 0 ? Number.NaN : counts.bothWrong / newErrors;
  },
  explainUndefined: (sets) => (sets.labels.length === 0 ? emptyTestSet : 'Target + transplanted made no error, so BEC divides by 0.'),
};

/**
 * The built-in metrics, in report order. `compatible` uses a tolerance of 0 points. Build the list with
 * {@link defaultMetrics} to set another tolerance or to add the accuracy of extra conditions.
 */
export const builtinMetrics: readonly CompatibilityMetric[] = [
  sourceAccuracyMetric,
  targetZeroShotAccuracyMetric,
  transplantedAccuracyMetric,
  retrainedAccuracyMetric,
  retentionMetric,
  gainOverZeroShotMetric,
  compatibleMetric(0),
  recoveryMetric,
  negativeFlipRateMetric,
  positiveFlipRateMetric,
  negativeFlipImpactMetric,
  backwardTrustCompatibilityMetric,
  backwardErrorCompatibilityMetric,
];

/** Options of {@link defaultMetrics}. */
export interface DefaultMetricsOptions {
  /** Largest loss against target zero-shot, in accuracy points, that `compatible` still accepts. Default 0. */
  readonly compatibleTolerancePoints?: number;
}

/** Returns the built-in metrics, with `compatible` at the given tolerance, followed by the accuracy of each extra condition of `sets`. */
export function defaultMetrics(sets: PredictionSets, options: DefaultMetricsOptions = {}): CompatibilityMetric[] {
  const compatible = compatibleMetric(options.compatibleTolerancePoints ?? 0);
  const metrics = builtinMetrics.map((metric) => (metric.name === 'compatible' ? compatible : metric));
  return [...metrics, ...extraAccuracyMetrics(sets)];
}
