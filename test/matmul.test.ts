import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { linear, matMul } from '../src/runtime/matmul.js';

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

describe('matMul with explicit-transpose gradient', () => {
  for (const [label, shapeA, shapeB] of [
    ['rank 2', [5, 7], [7, 3]],
    ['rank 3', [4, 5, 6], [4, 6, 2]],
  ] as const) {
    it(`matches tfjs gradients for ${label}`, () => {
      const a = tf.randomNormal([...shapeA], 0, 1, 'float32', 1);
      const b = tf.randomNormal([...shapeB], 0, 1, 'float32', 2);
      const upstream = tf.randomNormal([...shapeA.slice(0, -1), shapeB[shapeB.length - 1]!], 0, 1, 'float32', 3);
      const before = tf.memory().numTensors;
      const loss = (f: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x, y), upstream));
      const ours = tf.grads(loss((x, y) => matMul(x, y)))([a, b]);
      const theirs = tf.grads(loss((x, y) => tf.matMul(x, y)))([a, b]);
      expect(maxDiff(ours[0]!, theirs[0]!)).toBeLessThan(1e-5);
      expect(maxDiff(ours[1]!, theirs[1]!)).toBeLessThan(1e-5);
      tf.dispose([...ours, ...theirs]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([a, b, upstream]);
    });
  }

  it('skips the gradient of a constant input', async () => {
    const a = tf.randomNormal([5, 7], 0, 1, 'float32', 1);
    const b = tf.randomNormal([7, 3], 0, 1, 'float32', 2);
    const before = tf.memory().numTensors;
    // Differentiating with respect to a alone needs bᵀ, never aᵀ.
    const profile = await tf.profile(() => {
      const [gradient] = tf.grads((x: tf.Tensor) => tf.sum(matMul(x as tf.Tensor2D, b)))([a]);
      gradient?.dispose();
    });
    const transposes = profile.kernels.filter((kernel) => kernel.name === 'Transpose');
    expect(transposes).toHaveLength(1);
    expect(transposes[0]?.inputShapes[0]).toEqual([7, 3]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b]);
  });

  it('rejects mismatched inner dimensions', () => {
    const a = tf.zeros([2, 3]);
    const b = tf.zeros([4, 2]);
    expect(() => matMul(a as tf.Tensor2D, b as tf.Tensor2D)).toThrow(/inner dimensions differ/);
    tf.dispose([a, b]);
  });

  it('rejects different batch dimensions', () => {
    const a = tf.zeros([2, 3, 4]);
    const b = tf.zeros([3, 4, 5]);
    expect(() => matMul(a as tf.Tensor3D, b as tf.Tensor3D)).toThrow(/batch dimensions differ/);
    tf.dispose([a, b]);
  });
});

describe('linear', () => {
  it('applies weight and bias on the last axis', () => {
    const x = tf.tensor3d([1, 2, 3, 4], [1, 2, 2]);
    const w = tf.tensor2d([1, 0, 0, 1, 1, 1], [2, 3]);
    const bias = tf.tensor1d([0, 0, 10]);
    const y = linear(x, w, bias);
    expect(y.shape).toEqual([1, 2, 3]);
    expect(Array.from(y.dataSync())).toEqual([3, 2, 12, 7, 4, 14]);
    tf.dispose([x, w, bias, y]);
  });
});
