/**
 * Test helpers for putting backbone and tuning-module portability checks into a project's own test suite.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

/** Runs `body` and returns its result along with how many tensors it left allocated (0 means no leak). */
export async function countLeakedTensors<T>(body: () => T | Promise<T>): Promise<{ result: T; leaked: number }> {
  const before = tf.memory().numTensors;
  const result = await body();
  return { result, leaked: tf.memory().numTensors - before };
}
