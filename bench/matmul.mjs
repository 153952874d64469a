// Forward plus backward of one text-tower MLP projection with the library's matMul and with tf.matMul.
import * as tf from '@tensorflow/tfjs-core';
import { randomTensor } from './text-step.mjs';
import { timeSteps, vitB16Config } from './shared.mjs';

/** x · weight with a gradient for x alone, computed as dy · transpose(weight) with an explicit transpose. */
function matMulInputGradientOnly(x, weight) {
  const withGradient = tf.customGrad((a) => ({ value: tf.matMul(a, weight), gradFunc: (dy) => tf.matMul(dy, tf.transpose(weight)) }));
  return withGradient(x);
}

/**
 * Times x [rows, 512] × weight [512, 2048] forward plus backward in five variants. This is the shape of
 * the text tower's first MLP projection. Returns the timings keyed by variant.
 */
export async function benchMatMul(lib, rows, random, repetitions) {
  const { width, mlpWidth } = vitB16Config.text;
  const x = randomTensor(random, [rows, width]);
  const weight = randomTensor(random, [width, mlpWidth], 0.02); // [in, out], the layout vlm-compat stores
  const weightOutIn = tf.transpose(weight); // [out, in], the layout PyTorch stores
  const dy = randomTensor(random, [rows, mlpWidth]);

  const timeGradients = (gradientsOf) =>
    timeSteps(async () => {
      const grads = gradientsOf();
      await Promise.all(grads.map((g) => g.data()));
      tf.dispose(grads);
    }, repetitions);

  const variants = {
    // The default path: its gradient always computes dx and dW, each after an explicit transpose.
    libraryMatMul: await timeGradients(() => [tf.grad((a) => lib.matMul(a, weight))(x, dy)]),
    // tfjs's own gradient passes transposeB for dx and computes only the gradients that were requested.
    tfMatMul: await timeGradients(() => [tf.grad((a) => tf.matMul(a, weight))(x, dy)]),
    tfMatMulTransposeB: await timeGradients(() => [tf.grad((a) => tf.matMul(a, weightOutIn, false, true))(x, dy)]),
    // The same work as the default path (dx and dW), done with transpose flags.
    tfMatMulWithWeightGradient: await timeGradients(() => tf.grads((a, b) => tf.matMul(a, b))([x, weight], dy)),
    // What the default path would cost if its gradient skipped dW, which a frozen backbone never uses.
    explicitTransposeInputGradientOnly: await timeGradients(() => [tf.grad((a) => matMulInputGradientOnly(a, weight))(x, dy)]),
  };

  tf.dispose([x, weight, weightOutIn, dy]);
  return { rows, inFeatures: width, outFeatures: mlpWidth, variants };
}
