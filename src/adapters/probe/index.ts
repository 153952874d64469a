import type { TuningMethod } from '../types.js';

/** The probe methods. */
export const methods: readonly TuningMethod<never>[] = [];
