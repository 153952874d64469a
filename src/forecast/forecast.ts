import * as tf from '@tensorflow/tfjs-core';
import { FeatureCache, fillTemplate } from '../adapters/features.js';
import type { TuningModule } from '../adapters/types.js';
import type { Backbone } from '../backbones/types.js';
import type { ImageSource } from '../training/types.js';
import { getLogger } from '../runtime/logger.js';
import { encodeImages } from '../training/train.js';
import { defaultForecastCoefficients, depthCategory, featureSetFor, predictRetention } from './predictor.js';
import { debiasedCkaMinimumRows, featureSimilarity, zeroShotAgreement } from './similarity.js';
import type { CompatibilityForecast, FeatureSimilarity, ForecastEvidence, ForecastOptions, UnlabeledImages } from './types.js';
import { openUnlabeled, pickImages } from './unlabeled.js';

/** Default cap on the unlabeled images a forecast encodes: a small fraction of a typical test split, and enough for the agreement share to have a standard error of at most 0.045. */
export const defaultForecastImages = 128;

/**
 * Default cap on the classes a forecast compares. Each class costs one prompt encoding on each backbone,
 * which dominates the forecast on tasks with many classes and few test images. The calibration tasks have
 * 6 to 9 classes, so agreement over a sample of 32 stays close to the problems the coefficients were fitted on.
 */
export const defaultForecastClasses = 32;

/** Share of a test split's size that {@link forecastImageBudget} allows the forecast to encode. */
export const forecastImageShare = 0.05;

/** Fewest unlabeled images {@link forecastImageBudget} gives: below 8, debiased CKA spreads by more than 0.1 between samples. */
export const minimumForecastImages = 8;

/**
 * Returns how many unlabeled images a forecast ahead of an evaluation on `testImages` test images should
 * encode: 5% of the test split, at least {@link minimumForecastImages} and at most {@link defaultForecastImages}.
 * Encoding an image costs the same in the forecast as in the evaluation, which encodes every test image on
 * both backbones, so the forecast's image work stays at about 5% of the evaluation's from 160 test images up.
 */
// NOTE: the predictor's inputs do not drift with the sample size (CKA is debiased, the agreement is a share),
// but they spread more on small samples. On the bundled emoji pair, the predicted retention of one adapter
// varied by ±0.05 (standard deviation over 20 samples of 8 images), and its mean stayed within 0.015 of the
// forecast from all images. With plain CKA and the residual as inputs, it had drifted by 0.12 from 8 to 288 images.
export function forecastImageBudget(testImages: number): number {
  return Math.min(defaultForecastImages, Math.max(minimumForecastImages, Math.floor(testImages * forecastImageShare)));
}

/** Returns `classNames` when there are at most `maxClasses`, else a seeded sample of that many in their original order. */
function sampleClasses(classNames: readonly string[], maxClasses: number, seed: number): readonly string[] {
  if (classNames.length <= maxClasses) return classNames;
  return pickImages(classNames.length, maxClasses, seed, 'forecast-classes').map((i) => classNames[i] as string);
}

/** Throws when features contain NaN or infinite values, which would make every measurement meaningless (argmax of NaN is class 0). */
function checkFinite(features: tf.Tensor2D, what: string, backbone: Backbone): void {
  const finite = tf.tidy(() => tf.all(tf.isFinite(features)).dataSync()[0] === 1);
  if (!finite) throw new Error(`forecastCompatibility: backbone ${backbone.identity.name} gave NaN or infinite ${what}; check its weights and the input images`);
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

/**
 * Forecasts how much of a module's accuracy survives a transplant from `source` to `target`, before any
 * transplanted evaluation and without labels. It compares the two backbones where the module attaches, on
 * the user's unlabeled images and on the module's class prompts. The measurements are debiased linear CKA,
 * the residual of the best orthogonal map from target to source features, and how often the two zero-shot
 * classifiers agree. Class prompts are compared only when there are at least {@link debiasedCkaMinimumRows}
 * of them; a text-input module with fewer classes is judged on the image features instead. A linear model over these and the module's depth category predicts the retention
 * with an interval. The model's coefficients come from `options.coefficients` or the shipped file.
 *
 * The module's parameters are not used: only its attachment depth, class names and template. Never reads
 * `unlabeledImages.labels`.
 */
export async function forecastCompatibility(module: TuningModule, source: Backbone, target: Backbone, unlabeledImages: UnlabeledImages, options: ForecastOptions = {}): Promise<CompatibilityForecast> {
  const started = performance.now();
  const coefficients = options.coefficients ?? defaultForecastCoefficients();
  const featureSet = featureSetFor(module.attachment.depth);
  const maxClasses = options.maxClasses ?? defaultForecastClasses;
  if (!Number.isInteger(maxClasses) || maxClasses < 2) {
    throw new Error(`forecastCompatibility: maxClasses = ${maxClasses} is invalid; give an integer of at least 2, such as ${defaultForecastClasses}`);
  }
  const classNames = sampleClasses(module.classNames, maxClasses, options.seed ?? 0);
  const prompts = classNames.map((name) => fillTemplate(module.template, name));
  if (prompts.length < 2) {
    throw new Error(`forecastCompatibility measures zero-shot agreement over the classes of ${module.method}, which needs at least 2 classes, but the module has ${prompts.length}`);
  }
  const comparesText = featureSet !== 'image' && prompts.length >= debiasedCkaMinimumRows;
  const comparesImages = featureSet !== 'text' || !comparesText;

  const images = openUnlabeled(unlabeledImages, source, target, {
    maxImages: options.maxImages ?? defaultForecastImages,
    seed: options.seed ?? 0,
    purpose: 'forecastCompatibility',
    minimum: debiasedCkaMinimumRows,
  });
  const features = options.features ?? new FeatureCache();
  const all = Array.from({ length: images.count }, (_, i) => i);
  // Features the cache owns are left to it; only features encoded outside it are freed here.
  const owned: tf.Tensor2D[] = [];
  const imageFeatures = async (backbone: Backbone, view: ImageSource): Promise<tf.Tensor2D> => {
    const key = images.key === undefined ? undefined : `unlabeled-images:${images.key}`;
    const hit = key === undefined ? undefined : features.cached(backbone, key);
    if (hit !== undefined) return hit;
    const encoded = await encodeImages(backbone, view, all);
    if (key === undefined) {
      owned.push(encoded);
      return encoded;
    }
    // Another forecast on the same cache may have stored these images while this one encoded them.
    const stored = features.cached(backbone, key);
    if (stored !== undefined) {
      encoded.dispose();
      return stored;
    }
    return features.remember(backbone, key, () => encoded);
  };
  try {
    // [images, embedDim] of each backbone, computed without any module.
    const sourceImages = await imageFeatures(source, images.source);
    const targetImages = await imageFeatures(target, images.target);

    const sourceText = features.textFeatures(source, prompts);
    const targetText = features.textFeatures(target, prompts);
    checkFinite(sourceImages, 'image features', source);
    checkFinite(targetImages, 'image features', target);
    checkFinite(sourceText, 'text features of the class prompts', source);
    checkFinite(targetText, 'text features of the class prompts', target);
    const image: FeatureSimilarity | undefined = comparesImages ? featureSimilarity(targetImages, sourceImages) : undefined;
    const text: FeatureSimilarity | undefined = comparesText ? featureSimilarity(targetText, sourceText) : undefined;
    const parts = [image, text].filter((part): part is FeatureSimilarity => part !== undefined);
    const agreement = zeroShotAgreement(
      sourceImages,
      features.zeroShotClassifier(source, classNames, module.template),
      targetImages,
      features.zeroShotClassifier(target, classNames, module.template),
    );

    let comparedSet: ForecastEvidence['featureSet'] = 'image+text';
    if (text === undefined) comparedSet = 'image';
    if (image === undefined) comparedSet = 'text';
    const evidence: ForecastEvidence = {
      featureSet: comparedSet,
      ckaEstimator: 'debiased',
      cka: mean(parts.map((part) => part.cka)),
      procrustesResidual: mean(parts.map((part) => part.procrustesResidual)),
      zeroShotAgreement: agreement,
      depthCategory: depthCategory(module.attachment.depth),
      ...(image === undefined ? {} : { image }),
      ...(text === undefined ? {} : { text }),
      images: images.count,
      classPrompts: prompts.length,
    };
    const prediction = predictRetention(coefficients, evidence);
    const seconds = (performance.now() - started) / 1000;
    getLogger().debug(`forecast for ${module.method} from ${source.identity.name} to ${target.identity.name}`, { ...prediction, seconds });
    return {
      ...prediction,
      evidence,
      calibration: `${coefficients.fittedOn.cells} cells (${coefficients.fittedOn.backbonePairs.join('; ') || 'no backbone pairs'}): ${coefficients.fittedOn.note}`,
      source: source.identity,
      target: target.identity,
      seconds,
    };
  } finally {
    tf.dispose(owned);
    if (options.features === undefined) features.dispose();
  }
}
