/*
 * Multinomial logistic regression with an L2 penalty on the weights (not on the bias), fitted by L-BFGS on
 * the full batch. The objective is scikit-learn's divided by C·n:
 *
 *   mean cross-entropy + ‖W‖² / (2·C·n)
 *
 * so C means what it means in sklearn.linear_model.LogisticRegression. Parameters are a flat vector: the
 * weights W [features, classes] row-major, then the bias [classes].
 */

import * as tf from '@tensorflow/tfjs-core';

/** Settings of one fit. */
export interface LogisticRegressionOptions {
  /** Inverse L2 strength C, as scikit-learn's: larger C means weaker regularization. */
  readonly inverseRegularization: number;
  /** Maximum L-BFGS iterations; scikit-learn's `max_iter`. */
  readonly maxIterations: number;
  /** Converged when every gradient entry of the objective above is at most this in absolute value; scikit-learn's `tol`. */
  readonly tolerance: number;
  /** Starting parameters (a warm start); zeros when left out. */
  readonly initial?: Float64Array;
}

/** A fitted model and how the fit ended. */
export interface LogisticRegressionFit {
  /** W [features, classes] row-major, then the bias [classes]. */
  readonly parameters: Float64Array;
  readonly iterations: number;
  /**
   * True when the gradient met the tolerance or an iteration stopped lowering the objective. False when the
   * iteration budget ran out or the line search found no lower point.
   */
  readonly converged: boolean;
  /** Final value of the objective. */
  readonly objective: number;
}

/** L-BFGS history length. */
const memory = 10;
/** Armijo sufficient-decrease constant of the backtracking line search. */
const armijo = 1e-4;
const maxHalvings = 20;
/**
 * Also converged when an iteration lowers the objective by less than this share of it: the objective is
 * computed in float32, whose resolution is about 1.2e-7, so smaller decreases are rounding noise.
 */
const relativeDecreaseTolerance = 1e-7;

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] as number) * (b[i] as number);
  return sum;
}

function maxAbs(a: Float64Array): number {
  let max = 0;
  for (const value of a) max = Math.max(max, Math.abs(value));
  return max;
}

/** Evaluates the objective and its gradient; features [n, d] and one-hot labels [n, k] stay on the tensor backend. */
function objectiveAndGradient(features: tf.Tensor2D, featuresT: tf.Tensor2D, oneHot: tf.Tensor2D, lambda: number, parameters: Float64Array): { value: number; gradient: Float64Array } {
  const [n, d] = features.shape;
  const k = oneHot.shape[1];
  const [value, gradient] = tf.tidy(() => {
    const weight = tf.tensor2d(Float32Array.from(parameters.subarray(0, d * k)), [d, k]);
    const bias = tf.tensor1d(Float32Array.from(parameters.subarray(d * k)));
    const logProbabilities = tf.logSoftmax(tf.add(tf.matMul(features, weight), bias));
    const crossEntropy = tf.div(tf.neg(tf.sum(tf.mul(oneHot, logProbabilities))), n);
    const penalty = tf.mul(tf.sum(tf.square(weight)), lambda / 2);

    // d(mean cross-entropy)/d(logits) = (softmax − one-hot) / n
    const residual = tf.div(tf.sub(tf.exp(logProbabilities), oneHot), n);
    const weightGradient = tf.add(tf.matMul(featuresT, residual), tf.mul(weight, lambda));
    const biasGradient = tf.sum(residual, 0);
    return [tf.add(crossEntropy, penalty), tf.concat([tf.reshape(weightGradient, [-1]), biasGradient])];
  });
  const result = { value: value.dataSync()[0] as number, gradient: Float64Array.from(gradient.dataSync()) };
  tf.dispose([value, gradient]);
  return result;
}

/** Computes the L-BFGS direction −H⁻¹·gradient from the stored pairs by the two-loop recursion. */
function searchDirection(gradient: Float64Array, steps: Float64Array[], changes: Float64Array[]): Float64Array {
  const q = Float64Array.from(gradient);
  const alphas: number[] = [];
  for (let i = steps.length - 1; i >= 0; i--) {
    const s = steps[i] as Float64Array;
    const y = changes[i] as Float64Array;
    const alpha = dot(s, q) / dot(y, s);
    alphas[i] = alpha;
    for (let j = 0; j < q.length; j++) q[j] = (q[j] as number) - alpha * (y[j] as number);
  }
  const last = steps.length - 1;
  // Without history the first step is scaled to unit length, so the line search starts at a sane size.
  const gamma = last >= 0 ? dot(steps[last] as Float64Array, changes[last] as Float64Array) / dot(changes[last] as Float64Array, changes[last] as Float64Array) : 1 / Math.max(Math.sqrt(dot(gradient, gradient)), 1e-12);
  for (let j = 0; j < q.length; j++) q[j] = (q[j] as number) * gamma;
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i] as Float64Array;
    const y = changes[i] as Float64Array;
    const beta = dot(y, q) / dot(y, s);
    for (let j = 0; j < q.length; j++) q[j] = (q[j] as number) + ((alphas[i] as number) - beta) * (s[j] as number);
  }
  for (let j = 0; j < q.length; j++) q[j] = -(q[j] as number);
  return q;
}

/**
 * Fits multinomial logistic regression on features [n, d] with integer labels in [0, classes).
 * Deterministic: the same inputs on the same backend give the same parameters.
 */
export function fitLogisticRegression(features: tf.Tensor2D, labels: Int32Array, classes: number, options: LogisticRegressionOptions): LogisticRegressionFit {
  const [n, d] = features.shape;
  const size = d * classes + classes;
  if (options.initial !== undefined && options.initial.length !== size) {
    throw new Error(`fitLogisticRegression: warm start has ${options.initial.length} values, expected ${size} for ${d} features and ${classes} classes`);
  }
  const lambda = 1 / (options.inverseRegularization * n);
  const featuresT = tf.transpose(features) as tf.Tensor2D;
  const oneHot = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), 'float32') as tf.Tensor2D);
  const evaluate = (parameters: Float64Array) => objectiveAndGradient(features, featuresT, oneHot, lambda, parameters);

  let x: Float64Array = options.initial === undefined ? new Float64Array(size) : Float64Array.from(options.initial);
  let { value, gradient } = evaluate(x);
  const steps: Float64Array[] = [];
  const changes: Float64Array[] = [];
  let iterations = 0;
  let converged = false;
  try {
    for (; iterations < options.maxIterations; iterations++) {
      if (maxAbs(gradient) <= options.tolerance) {
        converged = true;
        break;
      }
      let direction = searchDirection(gradient, steps, changes);
      let slope = dot(direction, gradient);
      if (!(slope < 0)) {
        // The curvature history no longer gives a descent direction: restart from steepest descent.
        steps.length = 0;
        changes.length = 0;
        direction = searchDirection(gradient, steps, changes);
        slope = dot(direction, gradient);
      }

      // Backtracking line search for sufficient decrease.
      let step = 1;
      let next: { x: Float64Array; value: number; gradient: Float64Array } | undefined;
      for (let halving = 0; halving < maxHalvings; halving++, step /= 2) {
        const candidate = x.map((value, j) => value + step * (direction[j] as number));
        const evaluated = evaluate(candidate);
        if (evaluated.value <= value + armijo * step * slope) {
          next = { x: candidate, ...evaluated };
          break;
        }
      }
      // No decrease within float32 precision: the fit is as good as this backend can make it.
      if (next === undefined) break;

      const s = next.x.map((value, j) => value - (x[j] as number));
      const y = next.gradient.map((value, j) => value - (gradient[j] as number));
      if (dot(s, y) > 1e-12) {
        steps.push(s);
        changes.push(y);
        if (steps.length > memory) {
          steps.shift();
          changes.shift();
        }
      }
      const decrease = value - next.value;
      x = next.x;
      gradient = next.gradient;
      if (decrease <= relativeDecreaseTolerance * Math.max(Math.abs(value), Math.abs(next.value), 1)) {
        value = next.value;
        iterations++;
        converged = true;
        break;
      }
      value = next.value;
    }
  } finally {
    tf.dispose([featuresT, oneHot]);
  }
  return { parameters: x, iterations, converged, objective: value };
}

/** Accuracy and mean cross-entropy of fitted parameters on labelled features. */
export function scoreLogisticRegression(parameters: Float64Array, features: tf.Tensor2D, labels: Int32Array, classes: number): { accuracy: number; loss: number } {
  const d = features.shape[1];
  const [predicted, losses] = tf.tidy(() => {
    const weight = tf.tensor2d(Float32Array.from(parameters.subarray(0, d * classes)), [d, classes]);
    const bias = tf.tensor1d(Float32Array.from(parameters.subarray(d * classes)));
    const logProbabilities = tf.logSoftmax(tf.add(tf.matMul(features, weight), bias));
    const picked = tf.sum(tf.mul(tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), 'float32'), logProbabilities), 1);
    return [tf.argMax(logProbabilities, 1), tf.neg(picked)];
  });
  const predictions = predicted.dataSync();
  const lossValues = losses.dataSync();
  tf.dispose([predicted, losses]);
  let correct = 0;
  let loss = 0;
  for (let i = 0; i < labels.length; i++) {
    if (predictions[i] === labels[i]) correct++;
    loss += lossValues[i] as number;
  }
  return { accuracy: correct / labels.length, loss: loss / labels.length };
}
