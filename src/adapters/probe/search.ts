import * as tf from '@tensorflow/tfjs-core';
import type { Random } from '../../runtime/random.js';
import { fitLogisticRegression, scoreLogisticRegression, type LogisticRegressionFit } from './logistic-regression.js';

/** Labelled features, [examples, features] and one label per row. */
export interface LabelledFeatures {
  readonly features: tf.Tensor2D;
  readonly labels: Int32Array;
}

/** Settings of the search for the inverse regularization strength C. */
export interface SearchSettings {
  /** Values of C tried first. */
  readonly grid: readonly number[];
  /** Rounds of refinement around the best C, each halving the step in log10 C. */
  readonly refineSteps: number;
  readonly maxIterations: number;
  readonly tolerance: number;
}

/** One value of C and how its fit did on the validation examples. */
export interface Candidate {
  readonly inverseRegularization: number;
  readonly accuracy: number;
  /** Mean validation cross-entropy, which breaks ties in accuracy. */
  readonly loss: number;
  readonly fit: LogisticRegressionFit;
}

function better(a: Candidate, b: Candidate): boolean {
  return a.accuracy > b.accuracy || (a.accuracy === b.accuracy && a.loss < b.loss);
}

/**
 * Chooses C by validation accuracy, with validation cross-entropy breaking ties. The grid is tried first, in
 * ascending order so that each fit starts from the previous solution. Then each round tries the best value
 * times 10^±step, with the step starting at half the grid's smallest step in log10 C and halving every round.
 */
export function searchInverseRegularization(train: LabelledFeatures, validation: LabelledFeatures, classes: number, settings: SearchSettings): Candidate {
  const evaluate = (inverseRegularization: number, initial?: Float64Array): Candidate => {
    const fit = fitLogisticRegression(train.features, train.labels, classes, { inverseRegularization, maxIterations: settings.maxIterations, tolerance: settings.tolerance, initial });
    const score = scoreLogisticRegression(fit.parameters, validation.features, validation.labels, classes);
    return { inverseRegularization, ...score, fit };
  };

  const grid = [...settings.grid].sort((a, b) => a - b);
  let best: Candidate | undefined;
  let previous: Float64Array | undefined;
  for (const value of grid) {
    const candidate = evaluate(value, previous);
    previous = candidate.fit.parameters;
    if (best === undefined || better(candidate, best)) best = candidate;
  }
  if (best === undefined) throw new Error('searchInverseRegularization: the search grid is empty; give at least one value of C');

  const logs = grid.map(Math.log10);
  const gaps = logs.slice(1).map((value, i) => value - (logs[i] as number)).filter((gap) => gap > 0);
  let step = gaps.length === 0 ? 1 : Math.min(...gaps) / 2;
  for (let round = 0; round < settings.refineSteps; round++, step /= 2) {
    const center = Math.log10(best.inverseRegularization);
    const start = best.fit.parameters;
    for (const log of [center - step, center + step]) {
      const candidate = evaluate(10 ** log, start);
      if (better(candidate, best)) best = candidate;
    }
  }
  return best;
}

/**
 * Splits example indices into training and held-out parts, stratified by class: each class with at least
 * two examples gives round(fraction · count) of them, at least one and never all, to the held-out part.
 * Classes with one example stay in training. Seeded by `random`.
 */
export function stratifiedHoldOut(labels: Int32Array, classes: number, fraction: number, random: Random): { train: number[]; heldOut: number[] } {
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  labels.forEach((label, index) => byClass[label]?.push(index));
  const train: number[] = [];
  const heldOut: number[] = [];
  for (const indices of byClass) {
    // Fisher-Yates shuffle with the seeded source.
    for (let i = indices.length - 1; i > 0; i--) {
      const j = random.int(i + 1);
      [indices[i], indices[j]] = [indices[j] as number, indices[i] as number];
    }
    const take = indices.length < 2 ? 0 : Math.min(indices.length - 1, Math.max(1, Math.round(fraction * indices.length)));
    heldOut.push(...indices.slice(0, take));
    train.push(...indices.slice(take));
  }
  return { train: train.sort((a, b) => a - b), heldOut: heldOut.sort((a, b) => a - b) };
}
