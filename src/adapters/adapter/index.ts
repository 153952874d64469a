import type { TuningMethod } from '../types.js';
import { clipAdapter } from './clip-adapter.js';
import { taskRes } from './taskres.js';
import { tipAdapter, tipAdapterF } from './tip-adapter.js';

export type { ClipAdapterConfig } from './clip-adapter.js';
export type { TaskResConfig } from './taskres.js';
export type { TipAdapterConfig } from './tip-adapter.js';
export { clipAdapter, taskRes, tipAdapter, tipAdapterF };

/** The adapter methods. */
export const methods: readonly TuningMethod<never>[] = [clipAdapter, tipAdapter, tipAdapterF, taskRes] as unknown as readonly TuningMethod<never>[];
