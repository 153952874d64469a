import type * as tf from '@tensorflow/tfjs-core';
import type { Logger } from '../runtime/logger.js';
import type { Random } from '../runtime/random.js';
import type { TrainingDefaults } from '../adapters/types.js';

/**
 * Labelled images a module trains or is evaluated on. Images are loaded on demand, preprocessed for the
 * backbone in use, so that a data set of files and a synthetic tensor data set look the same.
 */
export interface ImageSource {
  /** A stable name of this source (data set and split). When present, frozen features of it are cached per backbone. */
  readonly id?: string;
  /** Number of examples. */
  readonly size: number;
  /** Class index of each example. Reading it is how a consumer uses labels; label-free code never does. */
  readonly labels: Int32Array;
  /**
   * Loads examples `indices` as [indices.length, imageSize, imageSize, 3]. With `augment`, a random view of
   * each, drawn from `augment.fork(String(index))` so that a view depends on the example, not on the batch.
   */
  images(indices: readonly number[], imageSize: number, augment?: Random): Promise<tf.Tensor4D>;
}

/** A training progress event. */
export interface TrainingProgress {
  /** Current epoch, 0-based. */
  readonly epoch: number;
  /** Total epochs. */
  readonly epochs: number;
  /** Optimizer step just taken, 0-based and counted across epochs. */
  readonly step: number;
  /** Total optimizer steps of the run. */
  readonly steps: number;
  /** Loss of this step's batch. */
  readonly loss: number;
  /** Learning rate of this step. */
  readonly learningRate: number;
  /** Throughput of this step. */
  readonly examplesPerSecond: number;
}

/** Options of one training run. Training fields left out take the method's defaults. */
export interface TrainOptions extends Partial<TrainingDefaults> {
  /** Seed of batch order, augmentation and dropout. */
  readonly seed: number;
  /** Called after every optimizer step. */
  readonly onProgress?: (event: TrainingProgress) => void;
  /**
   * Augmented views of each training image. Modules that only read frozen image features train on
   * features of these views, computed once; view 0 is the image without augmentation. Default 1.
   */
  readonly views?: number;
  /** Random augmentation for modules that backpropagate through the vision tower. Default true. */
  readonly augment?: boolean;
  /** Labelled validation examples; methods that fit on frozen features use them to choose hyperparameters. */
  readonly validation?: ImageSource;
  /** Compute frozen features once (true, the default) or again at every step (false; for tests and benchmarks). */
  readonly cacheFrozenFeatures?: boolean;
  /** Logger for epoch losses; the library-wide logger from `getLogger()` when absent. */
  readonly logger?: Logger;
}

/** The cost and outcome of a training run. */
export interface TrainReport {
  /** Wall-clock time, seconds. */
  readonly seconds: number;
  /** Training examples processed, counting repeats across epochs. */
  readonly examplesSeen: number;
  /** Optimizer steps taken; 0 for a training-free fit. */
  readonly steps: number;
  /** Epochs run; 0 for a training-free fit. */
  readonly epochs: number;
  /** Number of trainable scalars. */
  readonly trainableParameters: number;
  /** Tensor backend the run used. */
  readonly backend: string;
  /** Mean loss of the last epoch; NaN for a training-free fit. */
  readonly finalLoss: number;
}

/** Raised when the loss becomes NaN or infinite; names the epoch and step and suggests a lower learning rate. */
export class TrainingDivergedError extends Error {
  /** Error name: `TrainingDivergedError`. */
  override readonly name = 'TrainingDivergedError';
  constructor(
    /** Registry name of the method being trained. */
    readonly method: string,
    /** Epoch of the failing step, 0-based. */
    readonly epoch: number,
    /** Failing optimizer step, 0-based and counted across epochs. */
    readonly step: number,
    /** The non-finite loss. */
    readonly loss: number,
    /** Learning rate of the failing step. */
    readonly learningRate: number,
  ) {
    super(
      `Training ${method} diverged: loss is ${loss} at epoch ${epoch}, step ${step} (learning rate ${learningRate}). Lower the learning rate or check the inputs for NaN.`,
    );
  }
}
