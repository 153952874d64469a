export * from './safetensors.js';
export * from './hash.js';
export * from './json.js';
export * from './convert.js';
