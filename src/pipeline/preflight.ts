import type { ModuleManifest } from '../adapters/types.js';
import type { Backbone, BackboneDimensions } from '../backbones/types.js';

/** One way a saved module does not fit a target backbone. */
export interface Mismatch {
  /** The field that differs: a dimension name, `tokenizer` or `classNames`. */
  readonly field: keyof BackboneDimensions | 'tokenizer' | 'classNames';
  /** The module's value: the source backbone's dimension or tokenizer, or the module's class names. */
  readonly module: unknown;
  /** The target's value: its dimension or tokenizer, or the data set's class names. */
  readonly backbone: unknown;
  /** Why this matters for this module and what to do. */
  readonly message: string;
}

/** Dimensions every module depends on, and those that only modules attached there depend on. */
const sharedFields: ReadonlyArray<keyof BackboneDimensions> = ['embedDim'];
const textFields: ReadonlyArray<keyof BackboneDimensions> = ['textWidth', 'textLayers', 'contextLength'];
const visionFields: ReadonlyArray<keyof BackboneDimensions> = ['visionWidth', 'visionLayers'];

/**
 * Lists every way a saved module does not fit a backbone, before any compute: embedding width, text and
 * vision widths, layer counts, context length, tokenizer and class names. Dimensions of a tower the module
 * never touches are not compared. An empty list means the module can be transplanted as is; mismatches are
 * never adapted silently.
 */
export function checkCompatibility(manifest: ModuleManifest, backbone: Backbone, classNames?: readonly string[]): Mismatch[] {
  const mismatches: Mismatch[] = [];
  const source = manifest.source.dims;
  const target = backbone.dims;
  const touchesText = manifest.kind === 'prompt' || manifest.kind === 'lora' || manifest.kind === 'deep';
  const touchesVision = manifest.kind === 'lora' || manifest.kind === 'deep';
  const fields = [...sharedFields, ...(touchesText ? textFields : []), ...(touchesVision ? visionFields : [])];
  for (const field of fields) {
    if (source[field] !== target[field]) {
      mismatches.push({
        field,
        module: source[field],
        backbone: target[field],
        message: `${field} is ${source[field]} for the module (trained on ${manifest.source.identity.name}) but ${target[field]} for ${backbone.identity.name}; retrain the module on the target`,
      });
    }
  }
  // The fingerprint covers vocabulary and merges whatever the file layout; manifests without one compare file hashes.
  const moduleTokenizer = manifest.source.tokenizer.fingerprint ?? manifest.source.tokenizer.sha256;
  const backboneTokenizer = manifest.source.tokenizer.fingerprint === undefined ? backbone.tokenizer.source.sha256 : backbone.tokenizer.source.fingerprint;
  if (touchesText && moduleTokenizer !== backboneTokenizer) {
    mismatches.push({
      field: 'tokenizer',
      module: manifest.source.tokenizer,
      backbone: backbone.tokenizer.source,
      message: `the module's token embeddings were learned with tokenizer ${moduleTokenizer.slice(0, 12)} but ${backbone.identity.name} uses ${backboneTokenizer.slice(0, 12)}; retrain the module or use the source's tokenizer files`,
    });
  }
  if (classNames !== undefined && JSON.stringify(classNames) !== JSON.stringify(manifest.classNames)) {
    mismatches.push({
      field: 'classNames',
      module: manifest.classNames,
      backbone: classNames,
      message: `the module was trained for classes [${manifest.classNames.join(', ')}] but the data set has [${classNames.join(', ')}]; use the same classes in the same order`,
    });
  }
  return mismatches;
}
