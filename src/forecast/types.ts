import type { Backbone, BackboneIdentity } from '../backbones/types.js';
import type { FeatureCache } from '../adapters/features.js';
import type { ImageSource } from '../training/types.js';

/**
 * Images without labels: one source for every backbone, or a function that opens the images for a backbone
 * (backbones can preprocess images differently). Forecasting and migration never read `labels`.
 */
export type UnlabeledImages = ImageSource | ((backbone: Backbone) => ImageSource);

/**
 * Features the forecast compares: image embeddings of the unlabeled images, text embeddings of the class
 * prompts, or both (averaged with equal weight).
 */
export type FeatureSet = 'image' | 'text' | 'image+text';

/** Coarse attachment depth the predictor distinguishes: input tokens, transformer layers or output features. */
export type DepthCategory = 'input' | 'layers' | 'output';

/** Similarity of the two backbones on one kind of features. */
export interface FeatureSimilarity {
  /**
   * Debiased linear CKA (see {@link debiasedLinearCka}) of L2-normalized source and target features, about 0..1;
   * 1 = same geometry. Unlike plain CKA it does not rise as fewer rows are compared.
   */
  readonly cka: number;
  /**
   * ‖T W − S‖²_F / ‖S‖²_F for L2-normalized target features T, source features S and the orthogonal W that
   * minimizes it, 0..2; 0 = the target is the source up to a rotation. With fewer rows than dimensions the map
   * fits the sample better than new images, so this falls as fewer rows are compared: read it next to `rows`.
   */
  readonly procrustesResidual: number;
  /** Rows compared: unlabeled images or class prompts. */
  readonly rows: number;
}

/** The label-free measurements a forecast rests on. */
export interface ForecastEvidence {
  /** Features compared: image features, class-prompt features or both. */
  readonly featureSet: FeatureSet;
  /**
   * How `cka` was estimated: `debiased` (unbiased HSIC), which every forecast now records. Results written
   * before the field existed lack it, because their CKA was the plain estimate that rises on small samples.
   * The forecast fit leaves such cells out.
   */
  readonly ckaEstimator?: 'debiased';
  /** Combined CKA: the image or text value, or their mean for `image+text`. */
  readonly cka: number;
  /** Combined Procrustes residual, combined like `cka`. */
  readonly procrustesResidual: number;
  /** Share of unlabeled images whose zero-shot class (argmax over the class prompts) is the same on both backbones, 0..1. */
  readonly zeroShotAgreement: number;
  /** The module's attachment depth, coarsely: input tokens, transformer layers or output features. */
  readonly depthCategory: DepthCategory;
  /** Image-side similarity, present when the image features were compared. */
  readonly image?: FeatureSimilarity;
  /** Text-side similarity, present when the class prompt features were compared. */
  readonly text?: FeatureSimilarity;
  /** Unlabeled images used. */
  readonly images: number;
  /** Class prompts encoded: the module's class names (or a sample of at most `maxClasses` of them) filled into its template. */
  readonly classPrompts: number;
}

/** A predicted retention with its interval and the evidence behind it. */
export interface CompatibilityForecast {
  /** Predicted accuracy(target + transplanted) / accuracy(source + module). */
  readonly predictedRetention: number;
  /** Prediction interval [low, high] of the retention at `level`; the lower end is at least 0. */
  readonly interval: readonly [number, number];
  /** Coverage the interval aims at, such as 0.95. */
  readonly level: number;
  /** The label-free measurements the prediction rests on. */
  readonly evidence: ForecastEvidence;
  /** Features outside the range the coefficients were fitted on, by name; the prediction extrapolates there. */
  readonly extrapolated: readonly string[];
  /** Description of the cells the coefficients were fitted on, from the coefficients file. */
  readonly calibration: string;
  /** The backbone the module was trained on. */
  readonly source: BackboneIdentity;
  /** The backbone the module would move to. */
  readonly target: BackboneIdentity;
  /** Wall-clock time of the forecast, seconds. */
  readonly seconds: number;
}

/** Names of the predictor's inputs, in the order of {@link ForecastCoefficients.weights}. */
// NOTE: the Procrustes residual is evidence but not an input. With fewer images than dimensions the orthogonal
// map fits the sample, so the residual grows with the number of images compared: 0.05 at 8 images and 0.20 at
// 288 on the bundled emoji pair. Forecasts made with different image budgets could not share one weight for it.
export const forecastFeatureNames = ['intercept', 'cka', 'zeroShotAgreement', 'depth:input', 'depth:layers'] as const;

/** The fitted linear predictor of retention, as scripts/fit-forecast.mjs writes it. */
export interface ForecastCoefficients {
  /** Always `vlm-compat-forecast-coefficients`. */
  readonly format: 'vlm-compat-forecast-coefficients';
  /** Version of the file layout; 1. */
  readonly formatVersion: 1;
  /** Must equal {@link forecastFeatureNames}. */
  readonly features: readonly string[];
  /** One weight per feature. */
  readonly weights: readonly number[];
  /**
   * (XᵀX + λD)⁻¹ XᵀX (XᵀX + λD)⁻¹ [features, features] of the ridge fit: times the residual variance, the
   * covariance of the weights. Used for the width of the prediction interval.
   */
  readonly covariance: readonly (readonly number[])[];
  /** Standard deviation of the fit's residuals (retention units), corrected for the effective degrees of freedom. */
  readonly residualStd: number;
  /** Ridge strength λ on every weight but the intercept. */
  readonly ridge: number;
  /** Normal quantile of the interval (1.96 for 95%). */
  readonly intervalZ: number;
  /** Coverage of the interval, such as 0.95. */
  readonly level: number;
  /** [min, max] of each non-constant feature among the fitted cells. */
  readonly ranges: Readonly<Record<string, readonly [number, number]>>;
  /** Provenance of the coefficients: the cells they were fitted on. */
  readonly fittedOn: {
    /** Cells the fit used. */
    readonly cells: number;
    /** Backbone pairs, as `source → target`. */
    readonly backbonePairs: readonly string[];
    /** Methods of the fitted cells. */
    readonly methods: readonly string[];
    /** ISO 8601 time of the fit. */
    readonly createdAt: string;
    /** Description of the data and of how far the coefficients can be trusted. */
    readonly note: string;
  };
}

/** Options of {@link forecastCompatibility}. */
export interface ForecastOptions {
  /** Most unlabeled images to encode; a seeded sample is drawn from larger sources. Default 128. */
  readonly maxImages?: number;
  /**
   * Most classes whose prompts the forecast encodes and whose zero-shot agreement it measures; a seeded
   * sample is drawn from more. Default {@link defaultForecastClasses}.
   */
  readonly maxClasses?: number;
  /** Seed of the image and class samples. Default 0. */
  readonly seed?: number;
  /** Coefficients of the predictor. Default: the ones shipped with the library. */
  readonly coefficients?: ForecastCoefficients;
  /** Cache of class prompt features, shared with an evaluation; a private one is used and freed when absent. */
  readonly features?: FeatureCache;
}
