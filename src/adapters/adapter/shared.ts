import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import type { Backbone } from '../../backbones/types.js';
import type { Random } from '../../runtime/random.js';
import type { ModuleBatch, ModuleManifest } from '../types.js';

export { sourceRecord } from '../source.js';

/** Creates a codec of finite numbers that pass `valid`. Error messages call the expected value `name`. */
export function numberCodec(name: string, valid: (value: number) => boolean): t.Type<number, number, unknown> {
  const is = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && valid(value);
  return new t.Type<number, number, unknown>(name, is, (value, context) => (is(value) ? t.success(value) : t.failure(value, context)), t.identity);
}

export const positiveNumber = numberCodec('a positive number', (value) => value > 0);
export const nonNegativeNumber = numberCodec('a number >= 0', (value) => value >= 0);
export const positiveInteger = numberCodec('a positive integer', (value) => value >= 1 && Number.isInteger(value));
export const nonNegativeInteger = numberCodec('an integer >= 0', (value) => value >= 0 && Number.isInteger(value));

/** Returns the frozen image features of a batch, or throws when it has none: output-feature modules cannot run without them. */
export function requireImageFeatures(method: string, batch: ModuleBatch): tf.Tensor2D {
  if (batch.imageFeatures === undefined) {
    throw new Error(`${method} reads frozen image features, but the batch has none; pass { imageFeatures } computed with backbone.encodeImage`);
  }
  return batch.imageFeatures;
}

/**
 * Checks that a backbone's features are as wide as a module's weights. `weightDescription` names the weight,
 * such as "cache keys [16,512]". The error names both widths and the backbone.
 */
export function checkFeatureWidth(method: string, weightDescription: string, expected: number, backbone: Backbone, actual: number): void {
  if (expected === actual) return;
  throw new Error(
    `${method}: ${weightDescription} expect ${expected}-dimensional features, but backbone ${backbone.identity.name} gives ${actual}-dimensional ones. ` +
      'The module was trained on a backbone with another embedding width; retrain it on this backbone.',
  );
}

/**
 * Draws a weight [inFeatures, outFeatures] as torch.nn.Linear initializes its weight: uniform in
 * ±1/sqrt(inFeatures), which is kaiming_uniform with a = sqrt(5).
 */
export function linearWeight(inFeatures: number, outFeatures: number, random: Random): tf.Tensor2D {
  const bound = 1 / Math.sqrt(inFeatures);
  const values = Float32Array.from({ length: inFeatures * outFeatures }, () => (2 * random.next() - 1) * bound);
  return tf.tensor2d(values, [inFeatures, outFeatures]);
}

/**
 * Takes saved tensors out of a restore map after checking that every one is present with the expected
 * shape (-1 matches any size). Nothing is taken when a check fails. Errors name the method and the tensor.
 */
export function takeSaved<K extends string>(method: string, tensors: Map<string, tf.Tensor>, expected: Readonly<Record<K, readonly number[]>>): Record<K, tf.Tensor> {
  const entries = Object.entries(expected) as Array<[K, readonly number[]]>;
  for (const [name, shape] of entries) {
    const tensor = tensors.get(name);
    if (tensor === undefined) throw new Error(`${method}: the saved module has no "${name}" tensor; save the module again`);
    if (tensor.shape.length !== shape.length || tensor.shape.some((size, i) => shape[i] !== -1 && size !== shape[i])) {
      throw new Error(`${method}: saved tensor "${name}" has shape [${tensor.shape}], expected [${shape}]; the manifest and the tensors do not belong together`);
    }
  }
  const taken = {} as Record<K, tf.Tensor>;
  for (const [name] of entries) {
    taken[name] = tensors.get(name) as tf.Tensor;
    tensors.delete(name);
  }
  return taken;
}

/**
 * Runs a method's restore steps, then frees every tensor they did not take out of the map (with
 * {@link takeSaved}), also when a step throws, so that a failed restore leaks nothing.
 */
export function restoreFrom<T>(tensors: Map<string, tf.Tensor>, build: () => T): T {
  try {
    return build();
  } finally {
    for (const tensor of tensors.values()) tensor.dispose();
    tensors.clear();
  }
}

/** Throws when a label is outside [0, classes) or the label count differs from the feature rows. */
export function checkLabels(method: string, labels: Int32Array, rows: number, classes: number): void {
  if (labels.length !== rows) throw new Error(`${method}: ${rows} image feature rows but ${labels.length} labels; give one label per row`);
  for (const [index, label] of labels.entries()) {
    if (!(label >= 0 && label < classes)) {
      throw new Error(`${method}: label ${label} of example ${index} is not a class index in [0, ${classes}); the module was created for ${classes} class names`);
    }
  }
}

/**
 * Decodes the config saved in a manifest with the method's codec and fills missing fields from the
 * defaults. Fields the codec does not know, such as a recorded search result, pass through unchanged.
 */
export function configFromManifest<C>(method: string, codec: t.Type<C, unknown, unknown>, defaults: C, manifest: ModuleManifest): C {
  const decoded = codec.decode(manifest.config ?? {});
  if (decoded._tag === 'Left') {
    const problems = decoded.left.map((error) => {
      const path = error.context.map((entry) => entry.key).filter((key) => key !== '').join('.');
      return `${path === '' ? '(config)' : path} = ${JSON.stringify(error.value)}`;
    });
    throw new Error(`${method}: the saved manifest has an invalid config (${problems.join(', ')}); save the module again`);
  }
  return { ...defaults, ...(decoded.right as object) } as C;
}
