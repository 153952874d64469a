import { checkBootstrapOptions, forEachResample, percentileInterval, pointValue, type BootstrapOptions } from './bootstrap.js';
import { defaultMetrics } from './builtins.js';
import { MetricOptionsError } from './errors.js';
import { validatePredictionSets } from './sets.js';
import type { CompatibilityMetric, MetricValue, PredictionSets } from './types.js';

/** Options of {@link computeMetrics}. */
export interface ComputeMetricsOptions {
  /** Adds a bootstrap 95% interval to every metric whose value is not NaN. */
  readonly bootstrap?: BootstrapOptions;
}

/**
 * Computes `metrics` on `sets`, in the given order, by default the built-in metrics and the accuracy of each
 * extra condition. A value is NaN with a note when the metric is undefined for these sets, for example
 * every metric on an empty test set.
 *
 * With `bootstrap`, all metrics share the same resampled test sets, so each interval equals the one that
 * {@link withBootstrap} returns for that metric with the same options.
 * Throws a PredictionSetsError for inconsistent sets and a MetricOptionsError for invalid options or
 * metrics with the same name.
 */
export function computeMetrics(
  sets: PredictionSets,
  metrics: readonly CompatibilityMetric[] = defaultMetrics(sets),
  options: ComputeMetricsOptions = {},
): MetricValue[] {
  validatePredictionSets(sets);
  const seen = new Set<string>();
  for (const metric of metrics) {
    if (seen.has(metric.name)) {
      throw new MetricOptionsError('metrics', `Two metrics are named "${metric.name}". Give each metric a unique name.`);
    }
    seen.add(metric.name);
  }
  const samples = options.bootstrap === undefined ? 0 : checkBootstrapOptions(options.bootstrap);

  const points = metrics.map((metric) => pointValue(metric, sets));
  if (options.bootstrap === undefined) return points;

  // Only metrics with a defined value get an interval. Each resampled set is built once and shared by all of them.
  const resampledValues = points.map((): number[] => []);
  const withInterval = points.flatMap((point, m) => (Number.isNaN(point.value) ? [] : [m]));
  if (withInterval.length > 0) {
    forEachResample(sets, samples, options.bootstrap.seed, (resampled) => {
      for (const m of withInterval) resampledValues[m]?.push((metrics[m] as CompatibilityMetric).compute(resampled));
    });
  }

  const seed = options.bootstrap.seed;
  return points.map((point, m) => (Number.isNaN(point.value) ? point : { ...point, ...percentileInterval(resampledValues[m] as number[], seed) }));
}
