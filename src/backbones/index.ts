export * from './types.js';
export * from './layers.js';
export * from './checkpoint.js';
export * from './tokenizer.js';
export * from './preprocess.js';
export * from './registry.js';
export type { ClipConfig, ClipTowerConfig, ClipWeights, ClipBlockWeights, ClipTextWeights, ClipVisionWeights } from './clip/config.js';
export { ClipBackbone, clipDimensions } from './clip/model.js';
export { clipLayout, clipTextLayout, clipVisionLayout, isIgnorableClipKey, type ClipLayout } from './clip/layouts.js';
export { clipConfigFromHf, inferOpenClipConfig, clipConfigToHf, clipConfigToOpenClip, HfClipConfigJson, OpenClipConfigJson } from './clip/infer.js';
export { initClipCanonical } from './clip/init.js';
export {
  loadClipBackbone,
  clipBackboneFromCheckpoint,
  saveClipCheckpoint,
  detectClipLayout,
  findWeightsFile,
  clipWeightFiles,
  type LoadBackboneOptions,
} from './clip/load.js';
export { encodeClipText, encodeClipImage, clipBlock, extractPatches } from './clip/towers.js';
