import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../backbones/types.js';
import type { FeatureCache } from '../adapters/features.js';
import type { ModuleBatch, ModuleContext, TrainingDefaults, TuningMethod, TuningModule } from '../adapters/types.js';
import { activeBackend } from '../runtime/backend.js';
import { getLogger } from '../runtime/logger.js';
import { createRandom, type Random } from '../runtime/random.js';
import { adamw, cosineWithWarmup, sgd, type Optimizer } from './optimizers.js';
import { shuffled } from './sampler.js';
import { TrainingDivergedError, type ImageSource, type TrainOptions, type TrainReport } from './types.js';

/** Images encoded per call when computing frozen features. */
const featureBatchSize = 64;

/** Computes frozen image features [indices.length, embedDim] of the backbone, in batches, optionally of an augmented view. */
export async function encodeImages(backbone: Backbone, data: ImageSource, indices: readonly number[], augment?: Random): Promise<tf.Tensor2D> {
  const parts: tf.Tensor2D[] = [];
  for (let start = 0; start < indices.length; start += featureBatchSize) {
    const pixels = await data.images(indices.slice(start, start + featureBatchSize), backbone.dims.imageSize, augment);
    parts.push(backbone.encodeImage(pixels));
    pixels.dispose();
  }
  if (parts.length === 0) return tf.zeros([0, backbone.dims.embedDim]) as tf.Tensor2D;
  const features = tf.concat(parts, 0) as tf.Tensor2D;
  tf.dispose(parts);
  return features;
}

function resolveTraining(method: TuningMethod<unknown>, options: TrainOptions): TrainingDefaults {
  const merged: TrainingDefaults = { ...method.training };
  for (const key of Object.keys(method.training) as Array<keyof TrainingDefaults>) {
    const value = options[key];
    if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
  }
  for (const key of ['learningRate', 'epochs', 'batchSize'] as const) {
    const value = merged[key];
    if (!(Number.isFinite(value) && value >= 0) || (key === 'batchSize' && (value < 1 || !Number.isInteger(value)))) {
      throw new Error(`Invalid training option ${key} = ${value} for ${method.name}; give a ${key === 'batchSize' ? 'positive integer' : 'non-negative number'}`);
    }
  }
  return merged;
}

function createOptimizer(settings: TrainingDefaults, variables: ReadonlyMap<string, tf.Variable>): Optimizer {
  return settings.optimizer === 'sgd' ? sgd(variables, settings.momentum, settings.weightDecay) : adamw(variables, settings.weightDecay);
}

function countParameters(module: TuningModule): number {
  let total = 0;
  for (const v of module.parameters().values()) total += v.size;
  return total;
}

/**
 * Trains a tuning module on the backbone it was created for. Modules with `fit` are fitted on frozen
 * features; the others run the optimizer loop with a cosine schedule. Only the module's parameters change:
 * backbone weights are plain tensors outside every gradient.
 */
export async function trainModule(
  module: TuningModule,
  backbone: Backbone,
  features: FeatureCache,
  data: ImageSource,
  options: TrainOptions & { readonly method: TuningMethod<unknown> },
): Promise<TrainReport> {
  const logger = options.logger ?? getLogger();
  const settings = resolveTraining(options.method, options);
  const random = createRandom(options.seed);
  const started = performance.now();
  const all = Array.from({ length: data.size }, (_, i) => i);
  const report = (steps: number, epochs: number, examplesSeen: number, finalLoss: number): TrainReport => ({
    seconds: (performance.now() - started) / 1000,
    examplesSeen,
    steps,
    epochs,
    trainableParameters: countParameters(module),
    backend: activeBackend()?.name ?? tf.getBackend(),
    finalLoss,
  });

  if (module.fit !== undefined) {
    const imageFeatures = await encodeImages(backbone, data, all);
    const validation = options.validation;
    const validationFeatures =
      validation === undefined ? undefined : await encodeImages(backbone, validation, Array.from({ length: validation.size }, (_, i) => i));
    await module.fit(
      { backbone, features, training: false },
      {
        imageFeatures,
        labels: data.labels,
        ...(validation === undefined || validationFeatures === undefined ? {} : { validation: { imageFeatures: validationFeatures, labels: validation.labels } }),
      },
    );
    imageFeatures.dispose();
    validationFeatures?.dispose();
    if (!(module.trainAfterFit ?? false) || settings.epochs === 0) return report(0, 0, data.size, Number.NaN);
  }

  const variables = module.parameters();
  if (variables.size === 0) throw new Error(`${module.method} has no trainable parameters and no fit(); nothing to train`);
  const frozenVision = module.attachment.vision === 'frozen-features';
  const cache = options.cacheFrozenFeatures ?? true;
  const views = options.views ?? 1;
  const augment = options.augment ?? true;
  const viewRandom = (view: number) => (view === 0 ? undefined : random.fork(`view-${view}`));

  // Frozen image features of every view are computed once; the module can never change them.
  const cachedViews: tf.Tensor2D[] = [];
  if (frozenVision && cache) for (let view = 0; view < views; view++) cachedViews.push(await encodeImages(backbone, data, all, viewRandom(view)));

  const optimizer = createOptimizer(settings, variables);
  const stepsPerEpoch = Math.ceil(data.size / settings.batchSize);
  const totalSteps = settings.epochs * stepsPerEpoch;
  const warmupSteps = Math.round(settings.warmupEpochs * stepsPerEpoch);
  const context: ModuleContext = { backbone, features, training: true, random: random.fork('module') };
  const varList = [...variables.values()];
  const nameOf = new Map([...variables].map(([name, v]) => [v.name, name]));
  let step = 0;
  let examplesSeen = 0;
  let epochLoss = Number.NaN;

  try {
    for (let epoch = 0; epoch < settings.epochs; epoch++) {
      const order = shuffled(all, random.fork(`epoch-${epoch}`));
      const view = epoch % views;
      let lossSum = 0;
      for (let start = 0; start < order.length; start += settings.batchSize, step++) {
        const stepStarted = performance.now();
        const indices = order.slice(start, start + settings.batchSize);
        const learningRate = cosineWithWarmup(step, totalSteps, settings.learningRate, warmupSteps, settings.warmupLearningRate);
        const batch = await loadBatch(backbone, data, indices, frozenVision, cachedViews[view], viewRandom(view), augment ? random.fork(`augment-${epoch}`) : undefined);
        const labels = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(indices.map((i) => data.labels[i] as number), 'int32'), module.classNames.length), 'float32'));

        const { value, grads } = tf.variableGrads(() => {
          const logits = module.logits(context, batch);
          const crossEntropy = tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
          const extra = module.auxiliaryLoss?.(context, batch, logits);
          return extra === undefined ? crossEntropy : (tf.add(crossEntropy, extra) as tf.Scalar);
        }, varList);
        const loss = value.dataSync()[0] as number;
        const gradients = new Map(Object.entries(grads).map(([tfName, g]) => [nameOf.get(tfName) ?? tfName, g]));
        tf.dispose([value, labels, batch.images, batch.imageFeatures].filter((t): t is tf.Tensor => t !== undefined));
        if (!Number.isFinite(loss)) {
          tf.dispose(Object.values(grads));
          throw new TrainingDivergedError(module.method, epoch, step, loss, learningRate);
        }
        optimizer.step(gradients, learningRate);
        tf.dispose(Object.values(grads));

        lossSum += loss * indices.length;
        examplesSeen += indices.length;
        const seconds = (performance.now() - stepStarted) / 1000;
        options.onProgress?.({
          epoch,
          epochs: settings.epochs,
          step,
          steps: totalSteps,
          loss,
          learningRate,
          examplesPerSecond: indices.length / Math.max(seconds, 1e-9),
        });
      }
      epochLoss = lossSum / order.length;
      logger.debug(`${module.method} epoch ${epoch + 1}/${settings.epochs}`, { loss: epochLoss });
    }
  } finally {
    optimizer.dispose();
    tf.dispose(cachedViews);
  }
  return report(step, settings.epochs, examplesSeen, epochLoss);
}

async function loadBatch(
  backbone: Backbone,
  data: ImageSource,
  indices: readonly number[],
  frozenVision: boolean,
  cached: tf.Tensor2D | undefined,
  view: Random | undefined,
  augment: Random | undefined,
): Promise<ModuleBatch> {
  if (frozenVision) {
    if (cached !== undefined) return { imageFeatures: tf.tidy(() => tf.gather(cached, tf.tensor1d([...indices], 'int32'))) };
    return { imageFeatures: await encodeImages(backbone, data, indices, view) };
  }
  return { images: await data.images(indices, backbone.dims.imageSize, augment) };
}
