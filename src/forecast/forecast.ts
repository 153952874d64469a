import * as tf from '@tensorflow/tfjs-core';
import { FeatureCache, fillTemplate } from '../adapters/features.js';
import type { TuningModule } from '../adapters/types.js';
import type { Backbone } from '../backbones/types.js';
import type { ImageSource } from '../training/types.js';
import { getLogger } from '../runtime/logger.js';
import { encodeImages } from '../training/train.js';
import { defaultForecastCoefficients, depthCategory, featureSetFor, predictRetention } from './predictor.js';
import { featureSimilarity, zeroShotAgreement } from './similarity.js';
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

/**
 * Returns how many unlabeled images a forecast ahead of an evaluation on `testImages` test images should
 * encode: 5% of the test split, at least 16 and at most {@link defaultForecastImages}. Encoding an image
 * costs the same in the forecast as in the evaluation, which encodes every test image on both backbones,
 * so the forecast's image work stays at about 5% of the evaluation's.
 */
// NOTE: with fewer than about 64 images the zero-shot agreement has a standard error above 0.06 and CKA is
// biased upwards (fewer images than dimensions), so forecasts for small test splits are coarse.
export function forecastImageBudget(testImages: number): number {
  return Math.min(defaultForecastImages, Math.max(16, Math.floor(testImages * forecastImageShare)));
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
 * the user's unlabeled images and on the module's class prompts. The measurements are linear CKA, the
 * residual of the best orthogonal map from target to source features, and how often the two zero-shot
 * classifiers agree. A linear model over these and the module's depth category predicts the retention
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
  if (featureSet === 'text' && prompts.length < 2) {
    throw new Error(`forecastCompatibility compares class prompts for ${module.method}, which needs at least 2 classes, but the module has ${prompts.length}`);
  }

  const images = openUnlabeled(unlabeledImages, source, target, {
    maxImages: options.maxImages ?? defaultForecastImages,
    seed: options.seed ?? 0,
    purpose: 'forecastCompatibility',
    minimum: 2,
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
    const image: FeatureSimilarity | undefined = featureSet === 'text' ? undefined : featureSimilarity(targetImages, sourceImages);
    const text: FeatureSimilarity | undefined = featureSet === 'image' || prompts.length < 2 ? undefined : featureSimilarity(targetText, sourceText);
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
