import type { TuningMethod } from '../types.js';

/** The lora methods. */
export const methods: readonly TuningMethod<never>[] = [];
