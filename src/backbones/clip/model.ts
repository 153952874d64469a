import * as tf from '@tensorflow/tfjs-core';
import type { PreprocessConfig } from '../preprocess.js';
import type { ClipTokenizer } from '../tokenizer.js';
import type { Backbone, BackboneDimensions, BackboneIdentity, TowerHooks } from '../types.js';
import type { ClipConfig, ClipTextWeights, ClipWeights } from './config.js';
import { clipWeightsFromCanonical } from './layouts.js';
import { ClipTextBackbone } from './text-backbone.js';
import { encodeClipImage } from './towers.js';

/** CLIP clamps exp(logit_scale) at 100. */
const maxLogitScale = 100;

/** A CLIP backbone: OpenAI's ViT image tower and causal text transformer. */
export class ClipBackbone extends ClipTextBackbone implements Backbone {
  readonly dims: BackboneDimensions;
  readonly logitScale: number;
  private readonly weightsByName: Map<string, tf.Tensor>;
  private readonly model: ClipWeights;

  /** Takes ownership of `canonical` (tensors named as {@link clipLayout} names them). */
  constructor(
    readonly identity: BackboneIdentity,
    /** The architecture the weights were loaded with. */
    readonly config: ClipConfig,
    canonical: Map<string, tf.Tensor>,
    readonly tokenizer: ClipTokenizer,
    readonly preprocess: PreprocessConfig,
  ) {
    super();
    this.weightsByName = canonical;
    this.model = clipWeightsFromCanonical(canonical, config);
    this.logitScale = Math.min(Math.exp(this.model.logitScale), maxLogitScale);
    this.dims = clipDimensions(config);
  }

  protected get textWeights(): ClipTextWeights {
    return this.model.text;
  }

  protected get textConfig(): ClipConfig['text'] {
    return this.config.text;
  }

  encodeImage(pixels: tf.Tensor4D, hooks?: TowerHooks): tf.Tensor2D {
    return tf.tidy(() => encodeClipImage(this.model.vision, this.config.vision, pixels, hooks));
  }

  weights(): ReadonlyMap<string, tf.Tensor> {
    return this.weightsByName;
  }

  dispose(): void {
    for (const t of this.weightsByName.values()) t.dispose();
    this.weightsByName.clear();
  }
}

/** Reads the interface dimensions from a CLIP config. */
export function clipDimensions(config: ClipConfig): BackboneDimensions {
  return {
    embedDim: config.embedDim,
    textWidth: config.text.width,
    visionWidth: config.vision.width,
    textLayers: config.text.layers,
    visionLayers: config.vision.layers,
    textHeads: config.text.heads,
    visionHeads: config.vision.heads,
    contextLength: config.text.contextLength,
    vocabSize: config.text.vocabSize,
    imageSize: config.vision.imageSize,
    patchSize: config.vision.patchSize,
  };
}
