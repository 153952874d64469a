import type { TuningMethod } from '../types.js';

/** The prompt methods. */
export const methods: readonly TuningMethod<never>[] = [];
