export * from './types.js';
export * from './sampler.js';
export * from './optimizers.js';
export * from './train.js';
export * from './predict.js';
export * from './tensor-source.js';
export * from './subset-source.js';
