export * from './backend.js';
export * from './logger.js';
export * from './matmul.js';
export * from './random.js';
export * from './names.js';
