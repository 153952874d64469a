import type { TuningMethod } from '../types.js';

/** The adapter methods. */
export const methods: readonly TuningMethod<never>[] = [];
