export * from './errors.js';
export * from './preflight.js';
export * from './results.js';
export * from './summarize.js';
export * from './evaluate.js';
export * from './matrix.js';
export * from './config.js';
export * from './run.js';
