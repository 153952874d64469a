export * from './types.js';
export * from './features.js';
export * from './registry.js';
export * from './save.js';
