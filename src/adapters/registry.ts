import { unknownNameMessage } from '../runtime/names.js';
import { builtinMethods } from './builtins.js';
import type { TuningMethod } from './types.js';

const methods = new Map<string, TuningMethod<never>>(builtinMethods.map((m) => [m.name, m]));

/** Registers a tuning method under its name. Registering a name twice is an error. */
export function registerMethod<C>(method: TuningMethod<C>): void {
  if (methods.has(method.name)) throw new Error(`Tuning method "${method.name}" is already registered; choose another name`);
  methods.set(method.name, method as unknown as TuningMethod<never>);
}

/** Lists registered method names, sorted. */
export function methodNames(): string[] {
  return [...methods.keys()].sort();
}

/** Finds a method by name; an unknown name lists the valid names and suggests the closest. */
export function getMethod(name: string): TuningMethod<unknown> {
  const method = methods.get(name);
  if (method === undefined) throw new Error(unknownNameMessage('tuning method', name, methodNames()));
  return method as unknown as TuningMethod<unknown>;
}

/**
 * Decodes a user's partial config for a method and fills the rest from the method's defaults. Errors name
 * the method, the field path and the bad value.
 */
export function resolveConfig<C>(method: TuningMethod<C>, input: unknown = {}): C {
  const decoded = method.configCodec.decode(input ?? {});
  if (decoded._tag === 'Left') {
    const problems = decoded.left.map((error) => {
      const path = error.context.map((c) => c.key).filter((key) => key !== '').join('.');
      const expected = error.context[error.context.length - 1]?.type.name ?? 'a valid value';
      return `${path === '' ? '(config)' : path} = ${JSON.stringify(error.value)}, expected ${expected}`;
    });
    throw new Error(`Invalid config for tuning method "${method.name}":\n  ${problems.join('\n  ')}`);
  }
  return { ...method.defaults, ...(decoded.right as object) } as C;
}
