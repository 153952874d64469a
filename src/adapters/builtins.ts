import { methods as adapterMethods } from './adapter/index.js';
import { methods as deepMethods } from './deep/index.js';
import { methods as loraMethods } from './lora/index.js';
import { methods as probeMethods } from './probe/index.js';
import { methods as promptMethods } from './prompt/index.js';
import type { TuningMethod } from './types.js';

/** Every tuning method that ships with vlm-compat, registered on first registry use. */
export const builtinMethods: readonly TuningMethod<never>[] = [
  ...promptMethods,
  ...adapterMethods,
  ...loraMethods,
  ...deepMethods,
  ...probeMethods,
] as unknown as readonly TuningMethod<never>[];
