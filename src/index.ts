/**
 * vlm-compat: measure whether tuning modules trained on one vision-language backbone survive the move to
 * an updated backbone, and what retraining would cost.
 *
 * @packageDocumentation
 */
export * from './runtime/index.js';
export * from './io/index.js';
export * from './backbones/index.js';
export { version } from './version.js';
export * from './adapters/index.js';
export * from './training/index.js';
export * from './metrics/index.js';
export * from './pipeline/index.js';
export * from './data/index.js';
export * from './report/index.js';
export * from './backbones/mini.js';
export * from './forecast/index.js';
export * from './migrate/index.js';
