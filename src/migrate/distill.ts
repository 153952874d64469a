import * as tf from '@tensorflow/tfjs-core';
import type { FeatureCache } from '../adapters/features.js';
import { getMethod } from '../adapters/registry.js';
import type { ModuleBatch, ModuleContext, TrainingDefaults, TuningModule } from '../adapters/types.js';
import type { Backbone } from '../backbones/types.js';
import type { OpenedImages } from '../forecast/unlabeled.js';
import { getLogger } from '../runtime/logger.js';
import { createRandom } from '../runtime/random.js';
import { adamw, cosineWithWarmup, sgd, type Optimizer } from '../training/optimizers.js';
import { predict } from '../training/predict.js';
import { shuffled } from '../training/sampler.js';
import { encodeImages } from '../training/train.js';
import { TrainingDivergedError, type TrainingProgress } from '../training/types.js';
import { MigrationError, type DistillDetails } from './types.js';

/** Settings of one distillation run. */
export interface DistillSettings {
  /** Softmax temperature T of the KL loss, > 0. */
  readonly temperature: number;
  /** Overrides of the method's training defaults. Undefined entries keep the default. */
  readonly training: Partial<TrainingDefaults>;
  /** Seed of the student's initialization and of batch order. */
  readonly seed: number;
  /** Feature cache, owned by the caller, that the teacher's predictions and the student's training share. */
  readonly features: FeatureCache;
  /** Called after every optimizer step. */
  readonly onProgress?: (event: TrainingProgress) => void;
}

function resolveTraining(defaults: TrainingDefaults, overrides: Partial<TrainingDefaults>): TrainingDefaults {
  const merged = { ...defaults, ...Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined)) } as TrainingDefaults;
  for (const key of ['learningRate', 'epochs', 'batchSize', 'weightDecay'] as const) {
    const value = merged[key];
    const integer = key === 'epochs' || key === 'batchSize';
    if (!(Number.isFinite(value) && value >= (key === 'batchSize' ? 1 : 0)) || (integer && !Number.isInteger(value))) {
      throw new MigrationError('invalid-options', `distill: training.${key} = ${value} is invalid; give a ${key === 'batchSize' ? 'positive integer' : integer ? 'non-negative integer' : 'non-negative number'}`);
    }
  }
  return merged;
}

function createOptimizer(settings: TrainingDefaults, variables: ReadonlyMap<string, tf.Variable>): Optimizer {
  return settings.optimizer === 'sgd' ? sgd(variables, settings.momentum, settings.weightDecay) : adamw(variables, settings.weightDecay);
}

/**
 * T² · KL(p ‖ q) averaged over rows, with p = softmax(teacher / T) and q = softmax(student / T), the
 * distillation loss of Hinton et al. ("Distilling the Knowledge in a Neural Network", 2015). The T² factor
 * keeps gradient sizes comparable across temperatures.
 */
export function distillationLoss(teacherLogits: tf.Tensor2D, studentLogits: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const teacherLog = tf.logSoftmax(tf.div(teacherLogits, temperature));
    const studentLog = tf.logSoftmax(tf.div(studentLogits, temperature));
    const perRow = tf.sum(tf.mul(tf.exp(teacherLog), tf.sub(teacherLog, studentLog)), 1);
    return tf.mul(tf.mean(perRow), temperature * temperature) as tf.Scalar;
  });
}

/**
 * Runs one optimizer step on the distillation loss for the rows `indices`; `load` builds the teacher
 * logits and the student batch of those rows. Returns the loss, and skips the update when it is not finite.
 * Every tensor of the step is freed, also when a step throws.
 */
async function distillStep(
  student: TuningModule,
  context: ModuleContext,
  variables: tf.Variable[],
  nameOf: ReadonlyMap<string, string>,
  optimizer: Optimizer,
  learningRate: number,
  temperature: number,
  load: (rows: tf.Tensor1D) => Promise<{ targets: tf.Tensor2D; batch: ModuleBatch }>,
  indices: readonly number[],
): Promise<number> {
  const rows = tf.tensor1d([...indices], 'int32');
  const owned: Array<tf.Tensor | undefined> = [rows];
  try {
    const { targets, batch } = await load(rows);
    owned.push(targets, batch.images, batch.imageFeatures);
    const { value, grads } = tf.variableGrads(() => {
      const logits = student.logits(context, batch);
      const loss = distillationLoss(targets, logits, temperature);
      const extra = student.auxiliaryLoss?.(context, batch, logits);
      return extra === undefined ? loss : (tf.add(loss, extra) as tf.Scalar);
    }, variables);
    owned.push(value, ...Object.values(grads));
    const loss = value.dataSync()[0] as number;
    if (Number.isFinite(loss)) optimizer.step(new Map(Object.entries(grads).map(([tfName, gradient]) => [nameOf.get(tfName) ?? tfName, gradient])), learningRate);
    return loss;
  } finally {
    tf.dispose(owned.filter((x): x is tf.Tensor => x !== undefined));
  }
}

function countParameters(module: TuningModule): number {
  let total = 0;
  for (const variable of module.parameters().values()) total += variable.size;
  return total;
}

/**
 * Trains `module`'s method afresh on `target` to match the source module's soft predictions on unlabeled
 * images, with no labels. The student has the same method and config, created on the target. An optimizer
 * loop then minimizes the distillation loss, plus the module's own auxiliary loss if any, with the
 * method's optimizer and cosine schedule. This is the idea of Trans-LoRA (Wang et al., "Trans-LoRA:
 * towards data-free Transferable Parameter Efficient Finetuning", NeurIPS 2024), which moves LLM LoRA
 * modules to a new base model by distilling on synthetic data. Here it is applied to vision-language
 * tuning modules and the user's own unlabeled images.
 *
 * Methods with `fit` (a cache or a closed-form probe) cannot learn from soft targets there, so `fit` gets
 * the source module's predicted classes as pseudo-labels. The KL loop then runs when the method trains
 * after fitting. Images are not augmented, so teacher and student always see the same view.
 */
export async function distillModule(module: TuningModule, source: Backbone, target: Backbone, images: OpenedImages, settings: DistillSettings): Promise<{
  /** The student module on the target backbone, owned by the caller. */
  module: TuningModule;
  /** Settings and outcome of the run. */
  details: DistillDetails;
}> {
  const method = getMethod(module.method);
  const training = resolveTraining(method.training, settings.training);
  const random = createRandom(settings.seed);
  const student = method.create({ backbone: target, classNames: module.classNames, config: module.config, random: random.fork(`init-${method.name}`), template: module.template });
  const all = Array.from({ length: images.count }, (_, i) => i);
  const owned: tf.Tensor[] = [];
  try {
    // The teacher's logits [images, classes] on the source backbone, computed once.
    const teacher = await predict(module, source, settings.features, images.source);
    const teacherLogits = tf.tensor2d(teacher.logits, [images.count, teacher.classes]);
    owned.push(teacherLogits);

    const frozenVision = student.attachment.vision === 'frozen-features';
    let targetFeatures: tf.Tensor2D | undefined;
    if (frozenVision || student.fit !== undefined) {
      targetFeatures = await encodeImages(target, images.target, all);
      owned.push(targetFeatures);
    }

    let pseudoLabelFit = false;
    if (student.fit !== undefined) {
      await student.fit({ backbone: target, features: settings.features, training: false }, { imageFeatures: targetFeatures as tf.Tensor2D, labels: teacher.predictions });
      pseudoLabelFit = true;
    }
    const runLoop = student.fit === undefined || (student.trainAfterFit ?? false);
    const details = (epochs: number, steps: number, examplesSeen: number, finalLoss: number): DistillDetails => ({
      temperature: settings.temperature,
      epochs,
      steps,
      examplesSeen,
      finalLoss,
      pseudoLabelFit,
      trainableParameters: countParameters(student),
    });
    if (!runLoop || training.epochs === 0) return { module: student, details: details(0, 0, 0, Number.NaN) };

    const variables = student.parameters();
    if (variables.size === 0) throw new MigrationError('not-applicable', `${student.method} has no trainable parameters and no fit(); there is nothing to distill into`);
    const optimizer = createOptimizer(training, variables);
    const stepsPerEpoch = Math.ceil(images.count / training.batchSize);
    const totalSteps = training.epochs * stepsPerEpoch;
    const warmupSteps = Math.round(training.warmupEpochs * stepsPerEpoch);
    const context: ModuleContext = { backbone: target, features: settings.features, training: true, random: random.fork('module') };
    const variableList = [...variables.values()];
    const nameOf = new Map([...variables].map(([name, variable]) => [variable.name, name]));
    let step = 0;
    let examplesSeen = 0;
    let epochLoss = Number.NaN;

    try {
      for (let epoch = 0; epoch < training.epochs; epoch++) {
        const order = shuffled(all, random.fork(`epoch-${epoch}`));
        let lossSum = 0;
        for (let start = 0; start < order.length; start += training.batchSize, step++) {
          const stepStarted = performance.now();
          const indices = order.slice(start, start + training.batchSize);
          const learningRate = cosineWithWarmup(step, totalSteps, training.learningRate, warmupSteps, training.warmupLearningRate);
          const loss = await distillStep(student, context, variableList, nameOf, optimizer, learningRate, settings.temperature, async (rows) => {
            const batch: ModuleBatch = frozenVision ? { imageFeatures: tf.gather(targetFeatures as tf.Tensor2D, rows) as tf.Tensor2D } : { images: await images.target.images(indices, target.dims.imageSize) };
            return { batch, targets: tf.gather(teacherLogits, rows) as tf.Tensor2D };
          }, indices);
          if (!Number.isFinite(loss)) throw new TrainingDivergedError(student.method, epoch, step, loss, learningRate);

          lossSum += loss * indices.length;
          examplesSeen += indices.length;
          settings.onProgress?.({
            epoch,
            epochs: training.epochs,
            step,
            steps: totalSteps,
            loss,
            learningRate,
            examplesPerSecond: indices.length / Math.max((performance.now() - stepStarted) / 1000, 1e-9),
          });
        }
        epochLoss = lossSum / order.length;
        getLogger().debug(`distill ${student.method} epoch ${epoch + 1}/${training.epochs}`, { loss: epochLoss });
      }
    } finally {
      optimizer.dispose();
    }
    return { module: student, details: details(training.epochs, step, examplesSeen, epochLoss) };
  } catch (error) {
    student.dispose();
    throw error;
  } finally {
    tf.dispose(owned);
  }
}
