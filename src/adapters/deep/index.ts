import type { TuningMethod } from '../types.js';
import { mapleMethod } from './maple.js';
import { vptDeepMethod } from './vpt-deep.js';

export { mapleMethod, type MapleConfig } from './maple.js';
export { vptDeepMethod, type VptDeepConfig } from './vpt-deep.js';

/** The deep methods. */
export const methods: readonly TuningMethod<never>[] = [vptDeepMethod, mapleMethod] as unknown as readonly TuningMethod<never>[];
