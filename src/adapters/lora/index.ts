import type { TuningMethod } from '../types.js';
import { clipLoraMethod } from './clip-lora.js';

export { clipLoraEpochs, clipLoraMethod, type ClipLoraConfig, type LoraProjection } from './clip-lora.js';

/** The lora methods. */
export const methods: readonly TuningMethod<never>[] = [clipLoraMethod] as unknown as readonly TuningMethod<never>[];
