/**
 * Test helpers for putting tuning-module portability checks into a project's own test suite, with any test
 * runner. The vitest matcher lives in `vlm-compat/testing/vitest`.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

export { assertPortable, describePortability, measurePortability, PortabilityError, type PortabilityOptions, type PortabilityReport } from './portability.js';

/** Runs `body` and returns its result with how many tensors it left allocated; dispose result tensors inside `body`, so 0 means no leak. */
export async function countLeakedTensors<T>(body: () => T | Promise<T>): Promise<{
  /** What `body` returned. */
  result: T;
  /** Tensors allocated after `body` minus those before; negative when `body` freed more than it made. */
  leaked: number;
}> {
  const before = tf.memory().numTensors;
  const result = await body();
  return { result, leaked: tf.memory().numTensors - before };
}
