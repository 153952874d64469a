import { createRandom } from '../runtime/random.js';
import { MetricOptionsError } from './errors.js';
import { selectExamples, validatePredictionSets } from './sets.js';
import type { BootstrapRecord, CompatibilityMetric, MetricValue, PredictionSets } from './types.js';

/** Options of a bootstrap interval. */
export interface BootstrapOptions {
  /** Resampled test sets to draw. Default 1000. */
  readonly samples?: number;
  /** Seed of the resampling. The same seed gives the same interval. */
  readonly seed: number;
}

/** Returns the number of samples of `options`, after throwing a MetricOptionsError for invalid options. */
export function checkBootstrapOptions(options: BootstrapOptions): number {
  const samples = options.samples ?? 1000;
  if (!Number.isInteger(samples) || samples < 1) {
    throw new MetricOptionsError('bootstrap.samples', `Bootstrap samples ${samples} is invalid. Pass a positive integer, such as 1000.`);
  }
  if (!Number.isInteger(options.seed)) {
    throw new MetricOptionsError('bootstrap.seed', `Bootstrap seed ${options.seed} is invalid. Pass an integer, such as 0.`);
  }
  return samples;
}

/**
 * Draws `samples` resampled test sets: each picks as many test examples as the original, uniformly with
 * replacement. The same indices apply to every condition, so paired metrics (flips, gains) keep their pairing.
 * Calls `visit` with each resampled set in draw order.
 */
export function forEachResample(sets: PredictionSets, samples: number, seed: number, visit: (resampled: PredictionSets) => void): void {
  const random = createRandom(seed);
  const size = sets.labels.length;
  for (let s = 0; s < samples; s++) {
    const indices = new Int32Array(size);
    for (let i = 0; i < size; i++) indices[i] = random.int(size);
    visit(selectExamples(sets, indices));
  }
}

/** Returns the q-quantile (0..1) of ascending `sorted` values, interpolating linearly between neighbours. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.ceil(position);
  const low = sorted[below] as number;
  const high = sorted[above] as number;
  return low + (high - low) * (position - below);
}

/**
 * Returns the percentile 95% interval [2.5th, 97.5th percentile] of the resampled values that are not NaN,
 * and the bootstrap record. The interval is absent when every resampled value is NaN.
 */
export function percentileInterval(
  values: readonly number[],
  seed: number,
): {
  /** [2.5th, 97.5th percentile]; absent when every resampled value is NaN. */
  readonly interval?: readonly [number, number];
  /** Samples, seed and NaN count of the bootstrap. */
  readonly bootstrap: BootstrapRecord;
} {
  const defined = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  const bootstrap: BootstrapRecord = { samples: values.length, seed, undefinedSamples: values.length - defined.length };
  if (defined.length === 0) return { bootstrap };
  return { interval: [quantile(defined, 0.025), quantile(defined, 0.975)], bootstrap };
}

/** Returns the metric's value on `sets`, with a note when it is NaN. */
export function pointValue(metric: CompatibilityMetric, sets: PredictionSets): MetricValue {
  const value = metric.compute(sets);
  const base = { name: metric.name, value, unit: metric.unit, direction: metric.direction };
  if (!Number.isNaN(value)) return base;
  const note = sets.labels.length === 0 ? 'The test set is empty.' : (metric.explainUndefined?.(sets) ?? `The metric ${metric.name} is undefined for these predictions.`);
  return { ...base, note };
}

/**
 * Computes `metric` on `sets` with a bootstrap 95% interval. The interval resamples test examples with
 * replacement, jointly across conditions, and takes the 2.5th and 97.5th percentiles of the metric over
 * the resampled sets (the percentile method). Resampled sets on which the metric is NaN are left out and
 * counted in `bootstrap.undefinedSamples`. There is no interval when the value itself is NaN.
 * Throws a PredictionSetsError for inconsistent sets and a MetricOptionsError for invalid options.
 */
export function withBootstrap(metric: CompatibilityMetric, sets: PredictionSets, options: BootstrapOptions): MetricValue {
  const samples = checkBootstrapOptions(options);
  validatePredictionSets(sets);

  const point = pointValue(metric, sets);
  if (Number.isNaN(point.value)) return point;

  const values: number[] = [];
  forEachResample(sets, samples, options.seed, (resampled) => values.push(metric.compute(resampled)));
  return { ...point, ...percentileInterval(values, options.seed) };
}
