import { unknownNameMessage } from '../runtime/names.js';
import { builtinMethods } from './builtins.js';
import type { TuningMethod } from './types.js';

const methods = new Map<string, TuningMethod<never>>(builtinMethods.map((m) => [m.name, m]));

/**
 * Registered methods that only restore saved modules made by another step, so a user cannot pick them for
 * training. `bridged` wraps a module that the bridge migration moved to a new backbone.
 */
const restoreOnlyMethods: ReadonlySet<string> = new Set(['bridged']);

/** Raised by {@link getMethod} for a name that no method is registered under. */
export class UnknownMethodError extends Error {
  /** Error name: `UnknownMethodError`. */
  override readonly name = 'UnknownMethodError';
  constructor(
    /** The name that was looked up. */
    readonly method: string,
    /** The names a user can pick, as {@link methodNames} lists them. */
    readonly validNames: readonly string[],
  ) {
    super(unknownNameMessage('tuning method', method, validNames));
  }
}

/** Registers a tuning method under its name. Registering a name twice is an error. */
export function registerMethod<C>(method: TuningMethod<C>): void {
  if (methods.has(method.name)) throw new Error(`Tuning method "${method.name}" is already registered; choose another name`);
  methods.set(method.name, method as unknown as TuningMethod<never>);
}

/**
 * Lists the registered methods a user can train, sorted. Restore-only wrappers such as `bridged` are left
 * out, although {@link getMethod} still finds them to load saved modules.
 */
export function methodNames(): string[] {
  return [...methods.keys()].filter((name) => !restoreOnlyMethods.has(name)).sort();
}

/** Finds a method by name. Raises an {@link UnknownMethodError} that lists the valid names and suggests the closest. */
export function getMethod(name: string): TuningMethod<unknown> {
  const method = methods.get(name);
  if (method === undefined) throw new UnknownMethodError(name, methodNames());
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
