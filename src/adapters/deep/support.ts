import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import type { Backbone } from '../../backbones/types.js';
import type { Random } from '../../runtime/random.js';
import type { ModuleManifest, SourceRecord } from '../types.js';

// Helpers shared by the deep and lora families: config codecs, seeded parameter initialization and the
// checks a saved or transplanted module runs before it touches a backbone.

/** An integer ≥ 1. */
export const positiveInteger = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 1, 'positive integer');

/** An integer ≥ 0. */
export const nonNegativeInteger = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 0, 'non-negative integer');

/** A finite number > 0. */
export const positiveNumber = t.refinement(t.number, (n) => Number.isFinite(n) && n > 0, 'positive number');

/** A probability in [0, 1). */
export const dropoutRate = t.refinement(t.number, (n) => n >= 0 && n < 1, 'number in [0, 1)');

export { sourceRecord } from '../source.js';

/** Creates a trainable variable [shape] holding `values`. */
export function trainableVariable(values: Float32Array, shape: readonly number[]): tf.Variable {
  // tf.variable shares the data of its initial tensor, which it does not own, so that tensor is freed here.
  const initial = tf.tensor(values, [...shape], 'float32');
  const variable = tf.variable(initial, true);
  initial.dispose();
  return variable;
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Creates a trainable variable [shape] drawn uniformly from [-bound, bound). */
export function uniformVariable(random: Random, shape: readonly number[], bound: number): tf.Variable {
  return trainableVariable(Float32Array.from({ length: sizeOf(shape) }, () => (2 * random.next() - 1) * bound), shape);
}

/** Creates a trainable variable [shape] drawn from normal(0, std). */
export function normalVariable(random: Random, shape: readonly number[], std: number): tf.Variable {
  return trainableVariable(Float32Array.from({ length: sizeOf(shape) }, () => random.normal() * std), shape);
}

/** Creates a trainable variable [shape] of zeros. */
export function zeroVariable(shape: readonly number[]): tf.Variable {
  return trainableVariable(new Float32Array(sizeOf(shape)), shape);
}

/**
 * Returns the bound of PyTorch's default nn.Linear initialization for `fanIn` inputs. kaiming_uniform_ with
 * a = √5 on the weight gives 1 / √fanIn, and nn.Linear draws its bias from the same bound.
 */
export function linearInitBound(fanIn: number): number {
  return 1 / Math.sqrt(fanIn);
}

/**
 * Decodes the config stored in a manifest with the method's codec and fills missing fields from the
 * defaults. Errors name the method, the field and the value.
 */
export function configFromManifest<C>(method: string, codec: t.Type<Partial<C>, unknown, unknown>, defaults: C, manifest: ModuleManifest): C {
  const decoded = codec.decode(manifest.config ?? {});
  if (decoded._tag === 'Left') {
    const problems = decoded.left.map((error) => {
      const path = error.context.map((c) => c.key).filter((key) => key !== '').join('.');
      return `${path === '' ? '(config)' : path} = ${JSON.stringify(error.value)}`;
    });
    throw new Error(`The saved ${method} module has an invalid config (${problems.join(', ')}); save the module again with this version`);
  }
  return { ...defaults, ...decoded.right };
}

/**
 * Turns saved tensors into trainable variables, checking that exactly the expected names are present with
 * the expected shapes. Takes ownership of `tensors`: they are disposed whether or not the check passes.
 */
export function variablesFromSaved(method: string, tensors: Map<string, tf.Tensor>, expected: ReadonlyMap<string, readonly number[]>): Map<string, tf.Variable> {
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const saved = tensors.get(name);
    if (saved === undefined) problems.push(`missing ${name} [${shape}]`);
    else if (saved.shape.join(',') !== shape.join(',')) problems.push(`${name}: saved [${saved.shape}], expected [${shape}]`);
  }
  for (const name of tensors.keys()) if (!expected.has(name)) problems.push(`unexpected ${name}`);
  if (problems.length > 0) {
    tf.dispose([...tensors.values()]);
    throw new Error(`The saved ${method} module does not match its config:\n  ${problems.join('\n  ')}`);
  }

  const variables = new Map<string, tf.Variable>();
  for (const name of expected.keys()) {
    const saved = tensors.get(name) as tf.Tensor;
    variables.set(name, tf.variable(saved, true));
    saved.dispose();
  }
  return variables;
}

/** Tower width a module depends on, for {@link checkWidth}. */
export type WidthField = 'textWidth' | 'visionWidth';

/**
 * Throws when `backbone`'s width differs from the width the module's parameters were made for. Prompt
 * tokens and low-rank deltas have the width of the tower they were trained in, so they fit no other.
 */
export function checkWidth(method: string, source: SourceRecord, backbone: Backbone, field: WidthField): void {
  const trained = source.dims[field];
  const actual = backbone.dims[field];
  if (trained === actual) return;
  const tower = field === 'textWidth' ? 'text' : 'vision';
  throw new Error(
    `${method}: the module was trained on ${source.identity.name} with ${tower} width ${trained}, but backbone ${backbone.identity.name} has ${tower} width ${actual}; ` +
      `its parameters cannot be applied to a tower of another width, so retrain the module on ${backbone.identity.name}`,
  );
}

/** Throws when `backbone`'s tower has fewer layers than the module attaches to. */
export function checkLayers(method: string, backbone: Backbone, tower: 'text' | 'vision', needed: number): void {
  const actual = tower === 'text' ? backbone.dims.textLayers : backbone.dims.visionLayers;
  if (needed <= actual) return;
  throw new Error(
    `${method}: the module attaches to ${needed} ${tower} layers, but backbone ${backbone.identity.name} has ${actual}; ` +
      `retrain the module on ${backbone.identity.name} or use a backbone with at least ${needed} ${tower} layers`,
  );
}

/** Returns the layer indices 0..count-1. */
export function range(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}
