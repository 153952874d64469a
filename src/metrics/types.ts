/** Predictions of the conditions compared on one test set, each a predicted class per example. */
export interface PredictionSets {
  /** True class per example. */
  readonly labels: Int32Array;
  /** Class names, indexed by label. */
  readonly classNames: readonly string[];
  /** The source backbone with the module it was trained with. */
  readonly sourceModule: Int32Array;
  /** The target backbone with hand-written prompts and no module. */
  readonly targetZeroShot: Int32Array;
  /** The target backbone with the source's module moved over unchanged. */
  readonly targetTransplanted: Int32Array;
  /** The target backbone with the module trained afresh on it, when measured. */
  readonly targetRetrained?: Int32Array;
  /** Further conditions by name, such as `target-bridged` or `target-distilled`. */
  readonly extra?: Readonly<Record<string, Int32Array>>;
}

/** Whether larger values of a metric are better. */
export type MetricDirection = 'higher-is-better' | 'lower-is-better';

/** A computed metric value with its unit, direction and optional 95% interval. */
export interface MetricValue {
  /** Metric name, such as `retention` or `nfr`. */
  readonly name: string;
  /** NaN when the metric is undefined for these sets (an empty test set, a missing condition). */
  readonly value: number;
  /** `fraction` (0..1), `ratio`, `points` (accuracy points, 0..100), `count` or `boolean` (1 for true, 0 for false). */
  readonly unit: 'fraction' | 'ratio' | 'points' | 'count' | 'boolean';
  /** Whether higher or lower values are better. */
  readonly direction: MetricDirection;
  /** Bootstrap 95% interval [low, high], when computed. */
  readonly interval?: readonly [number, number];
  /** The reason the value is NaN, when it is. */
  readonly note?: string;
  /** Settings and outcome of the bootstrap behind `interval`, when one was computed. */
  readonly bootstrap?: BootstrapRecord;
}

/** Settings and outcome of a bootstrap interval, recorded so that the interval can be reproduced. */
export interface BootstrapRecord {
  /** Number of resampled test sets drawn. */
  readonly samples: number;
  /** Seed of the resampling. */
  readonly seed: number;
  /** Resampled sets on which the metric was NaN; the interval is taken over the others. */
  readonly undefinedSamples: number;
}

/** A metric computed from prediction sets. Users add their own by implementing this. */
export interface CompatibilityMetric {
  /** Metric name, unique within one computation. */
  readonly name: string;
  /** Unit of the value. */
  readonly unit: MetricValue['unit'];
  /** Whether higher or lower values are better. */
  readonly direction: MetricDirection;
  /** Computes the value; returns NaN when it is undefined for these sets. */
  compute(sets: PredictionSets): number;
  /** Returns a sentence saying why `compute` returns NaN for these sets, such as a missing condition. */
  explainUndefined?(sets: PredictionSets): string;
}
