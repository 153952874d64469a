import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

/** Name of the kernel behind {@link matMul}: the backend's BatchMatMul with its own gradient. */
const kernelName = 'VlmCompatMatMul';

// A registered gradient returns one closure per input, and tfjs calls only the closures of inputs on the
// path to the differentiated tensors. tf.customGrad computes every input's gradient eagerly, which spent
// about a fifth of a prompt-tuning step on gradients of frozen backbone weights.
tf.registerGradient({
  kernelName,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved) => {
    const [a, b] = saved as [tf.Tensor, tf.Tensor];
    const gradient = dy as tf.Tensor;
    const perm = swapLastTwo(a.rank);
    // tfjs's own gradient calls matMul with transposeA/transposeB, which the wasm backend runs several
    // times slower than a separate transpose followed by a plain matMul.
    return {
      a: () => tf.matMul(gradient, tf.transpose(b, perm)),
      b: () => tf.matMul(tf.transpose(a, perm), gradient),
    };
  },
});

/** Registers the matMul kernel on `backendName` by delegating to that backend's BatchMatMul, once. */
function ensureKernel(backendName: string): void {
  if (tf.getKernel(kernelName, backendName) !== undefined) return;
  const batchMatMul = tf.getKernel('BatchMatMul', backendName);
  if (batchMatMul === undefined) throw new Error(`matMul: the ${backendName} backend has no BatchMatMul kernel; use the wasm, cpu or tensorflow backend`);
  tf.registerKernel({
    kernelName,
    backendName,
    kernelFunc: ({ inputs, backend }) => batchMatMul.kernelFunc({ inputs, backend, attrs: { transposeA: false, transposeB: false } }),
  });
}

/**
 * Multiplies `a` [..., m, k] by `b` [..., k, n] with a gradient that transposes explicitly instead of
 * passing transpose flags to matMul. Both inputs must have the same rank and the same batch dimensions.
 */
export function matMul<R extends tf.Rank>(a: tf.Tensor<R>, b: tf.Tensor<R>): tf.Tensor<R> {
  if (a.rank !== b.rank || a.rank < 2) {
    throw new Error(`matMul expects two tensors of equal rank of at least 2, got shapes [${a.shape}] and [${b.shape}]`);
  }
  for (let i = 0; i < a.rank - 2; i++) {
    if (a.shape[i] !== b.shape[i]) {
      throw new Error(`matMul batch dimensions differ: [${a.shape}] and [${b.shape}]; reshape or tile them to match`);
    }
  }
  if (a.shape[a.rank - 1] !== b.shape[b.rank - 2]) {
    throw new Error(`matMul inner dimensions differ: [${a.shape}] times [${b.shape}]`);
  }
  ensureKernel(tf.getBackend());
  return tf.engine().runKernel(kernelName, { a, b }, {}) as tf.Tensor<R>;
}

/** Applies a dense layer to the last axis: x [..., in] · weight [in, out] (+ bias [out]) → [..., out]. */
export function linear(x: tf.Tensor, weight: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor {
  const inFeatures = weight.shape[0];
  const outFeatures = weight.shape[1];
  if (x.shape[x.rank - 1] !== inFeatures) {
    throw new Error(`linear: input has ${x.shape[x.rank - 1]} features but the weight expects ${inFeatures} ([${x.shape}] · [${weight.shape}])`);
  }
  const rows = tf.reshape(x, [-1, inFeatures]) as tf.Tensor2D;
  let y: tf.Tensor = matMul(rows, weight);
  if (bias !== undefined) y = tf.add(y, bias);
  return tf.reshape(y, [...x.shape.slice(0, -1), outFeatures]);
}
