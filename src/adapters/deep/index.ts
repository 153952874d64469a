import type { TuningMethod } from '../types.js';

/** The deep methods. */
export const methods: readonly TuningMethod<never>[] = [];
