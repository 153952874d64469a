export * from './types.js';
export * from './layers.js';
export * from './checkpoint.js';
export * from './tokenizer.js';
export * from './preprocess.js';
export * from './registry.js';
export type { ClipConfig, ClipTowerConfig, ClipWeights, ClipBlockWeights, ClipTextWeights, ClipVisionWeights } from './clip/config.js';
export { ClipBackbone, clipDimensions } from './clip/model.js';
export { ClipTextBackbone } from './clip/text-backbone.js';
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
export type { EvaClipConfig, EvaVisionConfig, EvaBlockWeights, EvaVisionWeights } from './eva/config.js';
export { EvaClipBackbone, evaDimensions } from './eva/model.js';
export { evaLayout, evaTextLayout, evaVisionLayout, evaWeightsFromCanonical, isEvaRopeBufferKey, type EvaLayout, type EvaTextPrefix, type EvaClipWeights } from './eva/layouts.js';
export { inferEvaConfig, evaConfigToOpenClip, evaPreprocess, EvaOpenClipConfigJson } from './eva/infer.js';
export { initEvaCanonical } from './eva/init.js';
export { evaRopeTables, ropeTensors, ropeRowsFor, applyRope, type RopeTables, type RopeTensors } from './eva/rope.js';
export { encodeEvaImage, evaBlock } from './eva/towers.js';
export { classifyCheckpointKeys, detectCheckpointFamily, type CheckpointKind } from './eva/detect.js';
export {
  loadEvaBackbone,
  evaBackboneFromCheckpoint,
  saveEvaCheckpoint,
  detectEvaLayout,
  evaWeightFiles,
  WrongBackboneFamilyError,
  RopeTableError,
  type EvaCheckpointFormat,
  type SaveEvaCheckpointOptions,
} from './eva/load.js';
