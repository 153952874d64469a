import type { TuningMethod } from '../types.js';
import { cocoop } from './cocoop.js';
import { contcoop } from './contcoop.js';
import { coop, kgcoop } from './coop.js';

export type { CocoopConfig } from './cocoop.js';
export type { ContcoopConfig } from './contcoop.js';
export type { CoopConfig } from './coop.js';
export { cocoop, contcoop, coop, kgcoop };

/** The prompt methods. */
export const methods: readonly TuningMethod<never>[] = [coop, kgcoop, cocoop, contcoop] as unknown as readonly TuningMethod<never>[];
