import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import type { Random } from '../../runtime/random.js';
import type { ModuleManifest, TuningMethod } from '../types.js';

export { sourceRecord } from '../source.js';

/** Creates a codec for finite numbers that pass `valid`. Error messages describe them as `expected`. */
function numberCodec(expected: string, valid: (value: number) => boolean): t.Type<number, number, unknown> {
  const is = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && valid(value);
  return new t.Type<number, number, unknown>(expected, is, (value, context) => (is(value) ? t.success(value) : t.failure(value, context)), t.identity);
}

export const positiveInteger = numberCodec('a positive integer', (value) => value >= 1 && Number.isInteger(value));
export const nonNegativeInteger = numberCodec('an integer >= 0', (value) => value >= 0 && Number.isInteger(value));
export const nonNegativeNumber = numberCodec('a number >= 0', (value) => value >= 0);

/**
 * Decodes the config stored in a manifest with the method's codec, filling absent fields from its
 * defaults, so that a hand-edited manifest fails with the field and value instead of a shape error later.
 */
export function savedConfig<C>(method: TuningMethod<C>, manifest: ModuleManifest): C {
  const decoded = method.configCodec.decode(manifest.config ?? {});
  if (decoded._tag === 'Left') {
    const fields = decoded.left.map((error) => {
      const path = error.context.map((entry) => entry.key).filter((key) => key !== '').join('.');
      return `${path === '' ? '(config)' : path} = ${JSON.stringify(error.value)}`;
    });
    throw new Error(`${method.name}: the saved manifest has an invalid config (${fields.join(', ')}); save the module again`);
  }
  return { ...method.defaults, ...(decoded.right as object) } as C;
}

/**
 * Runs a method's restore steps, then frees every tensor of the saved map, also when a step throws, so a
 * failed restore leaks nothing. Variables made from saved tensors keep their own reference to the data.
 */
export function restoring<T>(tensors: Map<string, tf.Tensor>, build: () => T): T {
  try {
    return build();
  } finally {
    tf.dispose([...tensors.values()]);
    tensors.clear();
  }
}

/** Turns saved tensors into trainable variables after checking every expected name and shape (-1 matches any size). */
export function savedVariables<K extends string>(method: string, tensors: ReadonlyMap<string, tf.Tensor>, expected: Readonly<Record<K, readonly number[]>>): Record<K, tf.Variable> {
  for (const [name, shape] of Object.entries(expected) as Array<[K, readonly number[]]>) {
    const tensor = tensors.get(name);
    if (tensor === undefined) throw new Error(`${method}: the saved module has no "${name}" tensor; save the module again`);
    if (tensor.rank !== shape.length || tensor.shape.some((size, i) => shape[i] !== -1 && size !== shape[i])) {
      throw new Error(`${method}: saved tensor "${name}" has shape [${tensor.shape}], expected [${shape}]; the manifest and the tensors do not belong together`);
    }
  }
  const variables = {} as Record<K, tf.Variable>;
  for (const name of Object.keys(expected) as K[]) variables[name] = tf.variable(tensors.get(name) as tf.Tensor, true);
  return variables;
}

/** Turns freshly created tensors into trainable variables and frees the tensors. */
export function toVariables<K extends string>(tensors: Readonly<Record<K, tf.Tensor>>): Record<K, tf.Variable> {
  const variables = {} as Record<K, tf.Variable>;
  for (const [name, tensor] of Object.entries(tensors) as Array<[K, tf.Tensor]>) variables[name] = tf.variable(tensor, true);
  tf.dispose(Object.values(tensors) as tf.Tensor[]);
  return variables;
}

/**
 * Draws a weight [inFeatures, outFeatures] and bias [outFeatures] as torch.nn.Linear does by default: uniform
 * in ±1/sqrt(inFeatures).
 */
export function torchLinear(inFeatures: number, outFeatures: number, random: Random): { weight: tf.Tensor2D; bias: tf.Tensor1D } {
  const bound = 1 / Math.sqrt(inFeatures);
  const draw = (size: number) => Float32Array.from({ length: size }, () => (2 * random.next() - 1) * bound);
  return { weight: tf.tensor2d(draw(inFeatures * outFeatures), [inFeatures, outFeatures]), bias: tf.tensor1d(draw(outFeatures)) };
}

/** Draws a weight [inFeatures, outFeatures] from Xavier's uniform distribution, as torch.nn.MultiheadAttention initializes its input projections. */
export function xavierUniform(inFeatures: number, outFeatures: number, random: Random): tf.Tensor2D {
  const bound = Math.sqrt(6 / (inFeatures + outFeatures));
  return tf.tensor2d(Float32Array.from({ length: inFeatures * outFeatures }, () => (2 * random.next() - 1) * bound), [inFeatures, outFeatures]);
}
