import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { AttachmentDepth } from '../adapters/types.js';
import shipped from './coefficients.json';
import { forecastFeatureNames, type DepthCategory, type FeatureSet, type ForecastCoefficients, type ForecastEvidence } from './types.js';

/** Maps an attachment depth to its coarse depth category. */
export function depthCategory(depth: AttachmentDepth): DepthCategory {
  switch (depth) {
    case 'text-input':
    case 'vision-input':
      return 'input';
    case 'text-layers':
    case 'vision-layers':
    case 'both-layers':
      return 'layers';
    case 'output-features':
      return 'output';
  }
}

/**
 * Chooses the features a module's survival depends on. Output-feature modules (adapters, probes) read image
 * embeddings, and so do vision-input prompts. Text-input prompts shape the class prompt embeddings. Deep
 * prompts and LoRA change the inside of the towers, which moves both, so both are compared.
 */
export function featureSetFor(depth: AttachmentDepth): FeatureSet {
  switch (depth) {
    case 'text-input':
      return 'text';
    case 'vision-input':
    case 'output-features':
      return 'image';
    case 'text-layers':
    case 'vision-layers':
    case 'both-layers':
      return 'image+text';
  }
}

/** Builds the predictor's input row for some evidence, in the order of {@link forecastFeatureNames}. */
export function designRow(evidence: Pick<ForecastEvidence, 'cka' | 'zeroShotAgreement' | 'depthCategory'>): number[] {
  return [1, evidence.cka, evidence.zeroShotAgreement, evidence.depthCategory === 'input' ? 1 : 0, evidence.depthCategory === 'layers' ? 1 : 0];
}

const finite = new t.Type<number, number, unknown>(
  'finite number',
  (input): input is number => typeof input === 'number' && Number.isFinite(input),
  (input, context) => (typeof input === 'number' && Number.isFinite(input) ? t.success(input) : t.failure(input, context)),
  t.identity,
);

/** io-ts codec of a coefficients file. */
export const forecastCoefficientsCodec = t.type(
  {
    /** Always `vlm-compat-forecast-coefficients`. */
    format: t.literal('vlm-compat-forecast-coefficients'),
    /** Version of the file layout; 1. */
    formatVersion: t.literal(1),
    /** Feature names, in the order of `weights`. */
    features: t.array(t.string),
    /** One weight per feature. */
    weights: t.array(finite),
    /** Covariance factor of the weights [features, features]; times the residual variance, their covariance. */
    covariance: t.array(t.array(finite)),
    /** Standard deviation of the fit's residuals, in retention units. */
    residualStd: finite,
    /** Ridge strength on every weight but the intercept. */
    ridge: finite,
    /** Normal quantile of the interval (1.96 for 95%). */
    intervalZ: finite,
    /** Coverage of the interval, such as 0.95. */
    level: finite,
    /** [min, max] of each non-constant feature among the fitted cells. */
    ranges: t.record(t.string, t.tuple([finite, finite])),
    /** Provenance of the coefficients: the cells they were fitted on. */
    fittedOn: t.type({
      /** Cells the fit used. */
      cells: finite,
      /** Backbone pairs, as `source → target`. */
      backbonePairs: t.array(t.string),
      /** Methods of the fitted cells. */
      methods: t.array(t.string),
      /** ISO 8601 time of the fit. */
      createdAt: t.string,
      /** Description of the data and of how far the coefficients can be trusted. */
      note: t.string,
    }),
  },
  'ForecastCoefficients',
);

/**
 * Checks parsed coefficients (the JSON that scripts/fit-forecast.mjs writes) and returns them typed. Errors
 * name the invalid field and the script that writes a valid file.
 */
export function decodeForecastCoefficients(json: unknown, origin = 'forecast coefficients'): ForecastCoefficients {
  const decoded = forecastCoefficientsCodec.decode(json);
  if (isLeft(decoded)) {
    const problems = decoded.left.map((error) => {
      const path = error.context.map((entry) => entry.key).filter((key) => key !== '').join('.');
      return `${path === '' ? '(top level)' : path} = ${JSON.stringify(error.value)}`;
    });
    throw new Error(`${origin} are invalid (${problems.slice(0, 5).join(', ')}); write them again with scripts/fit-forecast.mjs`);
  }
  const coefficients = decoded.right;
  const width = forecastFeatureNames.length;
  if (coefficients.features.join(',') !== forecastFeatureNames.join(',')) {
    throw new Error(`${origin} have features [${coefficients.features.join(', ')}], but this version expects [${forecastFeatureNames.join(', ')}]; refit them with scripts/fit-forecast.mjs`);
  }
  if (coefficients.weights.length !== width || coefficients.covariance.length !== width || coefficients.covariance.some((row) => row.length !== width)) {
    throw new Error(`${origin} need ${width} weights and a ${width} × ${width} covariance; refit them with scripts/fit-forecast.mjs`);
  }
  return coefficients;
}

let shippedCoefficients: ForecastCoefficients | undefined;

/**
 * Returns the coefficients shipped with the library (src/forecast/coefficients.json), decoded on first use.
 * Their `fittedOn.note` describes the data they were fitted on.
 */
// NOTE: the shipped coefficients come from random tiny CLIP pairs and the one bundled mini pair. They rank
// updates by how far the backbones drifted, but every module of one attachment depth gets the same
// forecast, so they do not rank such modules against each other. Refit on real results for real updates.
export function defaultForecastCoefficients(): ForecastCoefficients {
  shippedCoefficients ??= decodeForecastCoefficients(shipped, 'the shipped forecast coefficients');
  return shippedCoefficients;
}

/** A prediction of the linear model for one row. */
export interface RetentionPrediction {
  /** Predicted accuracy(target + transplanted) / accuracy(source + module). */
  readonly predictedRetention: number;
  /** Prediction interval [low, high] at `level`; the lower end is at least 0. */
  readonly interval: readonly [number, number];
  /** Coverage the interval aims at, such as 0.95. */
  readonly level: number;
  /** Features outside the fitted range. */
  readonly extrapolated: string[];
}

/**
 * Predicts retention from evidence: wᵀx, with the interval wᵀx ± z σ √(1 + xᵀ C x) from the residual
 * standard deviation σ and the weight covariance factor C of the fit. The lower end is clamped at 0.
 */
export function predictRetention(coefficients: ForecastCoefficients, evidence: Pick<ForecastEvidence, 'cka' | 'zeroShotAgreement' | 'depthCategory'>): RetentionPrediction {
  const x = designRow(evidence);
  let mean = 0;
  let leverage = 0;
  for (let i = 0; i < x.length; i++) {
    mean += (coefficients.weights[i] as number) * (x[i] as number);
    for (let j = 0; j < x.length; j++) leverage += (x[i] as number) * (coefficients.covariance[i]?.[j] as number) * (x[j] as number);
  }
  const halfWidth = coefficients.intervalZ * coefficients.residualStd * Math.sqrt(1 + Math.max(leverage, 0));

  const extrapolated: string[] = [];
  forecastFeatureNames.forEach((name, i) => {
    const range = coefficients.ranges[name];
    const value = x[i] as number;
    if (range !== undefined && (value < range[0] || value > range[1])) extrapolated.push(name);
  });
  return { predictedRetention: mean, interval: [Math.max(mean - halfWidth, 0), mean + halfWidth], level: coefficients.level, extrapolated };
}
