import * as tf from '@tensorflow/tfjs-core';
import type { ClipConfig, ClipTextWeights } from '../clip/config.js';
import { ClipTextBackbone } from '../clip/text-backbone.js';
import type { PreprocessConfig } from '../preprocess.js';
import type { ClipTokenizer } from '../tokenizer.js';
import type { Backbone, BackboneDimensions, BackboneIdentity, TowerHooks } from '../types.js';
import type { EvaClipConfig } from './config.js';
import { evaWeightsFromCanonical, type EvaClipWeights } from './layouts.js';
import { evaRopeTables, ropeTensors, type RopeTensors } from './rope.js';
import { encodeEvaImage } from './towers.js';

/** exp(logit_scale) is clamped at 100, as CLIP and EVA-CLIP clamp it during training. */
const maxLogitScale = 100;

/**
 * An EVA-CLIP backbone, such as EVA02-CLIP-B/16: an EVA-02 vision transformer and CLIP's causal text
 * transformer. The vision tower has a patch convolution with bias, an absolute position embedding and a
 * 2-D rotary embedding on the patch tokens, and separate q, k, v projections without a k bias. Its
 * attention and SwiGLU MLP each end in a sub-LN, and a head maps the class token to the embedding space.
 *
 * The text tower is OpenAI CLIP's architecture, and EVA02-CLIP-B/16's text tower was initialized from
 * OpenAI CLIP ViT-B/16's text encoder (`openai/clip-vit-base-patch16`, per the EVA-CLIP README) before
 * contrastive training. That shared starting point, together with the identical tokenizer and text
 * width, is why text-side tuning modules trained on OpenAI CLIP can partly survive a transplant to EVA-CLIP,
 * while vision-side modules meet a different architecture.
 */
export class EvaClipBackbone extends ClipTextBackbone implements Backbone {
  readonly dims: BackboneDimensions;
  readonly logitScale: number;
  private readonly weightsByName: Map<string, tf.Tensor>;
  private readonly model: EvaClipWeights;
  private readonly rope: RopeTensors;

  /** Takes ownership of `canonical` (tensors named as {@link evaLayout} names them). */
  constructor(
    readonly identity: BackboneIdentity,
    /** The architecture the weights were loaded with. */
    readonly config: EvaClipConfig,
    canonical: Map<string, tf.Tensor>,
    readonly tokenizer: ClipTokenizer,
    readonly preprocess: PreprocessConfig,
  ) {
    super();
    this.weightsByName = canonical;
    this.model = evaWeightsFromCanonical(canonical, config);
    this.rope = ropeTensors(evaRopeTables(config.vision));
    this.logitScale = Math.min(Math.exp(this.model.logitScale), maxLogitScale);
    this.dims = evaDimensions(config);
  }

  protected get textWeights(): ClipTextWeights {
    return this.model.text;
  }

  protected get textConfig(): ClipConfig['text'] {
    return this.config.text;
  }

  encodeImage(pixels: tf.Tensor4D, hooks?: TowerHooks): tf.Tensor2D {
    return tf.tidy(() => encodeEvaImage(this.model.vision, this.config.vision, this.rope, pixels, hooks));
  }

  /** Returns every weight by canonical name. The rotary tables are computed from the config and are not listed. */
  weights(): ReadonlyMap<string, tf.Tensor> {
    return this.weightsByName;
  }

  dispose(): void {
    for (const t of this.weightsByName.values()) t.dispose();
    this.weightsByName.clear();
    tf.dispose([this.rope.cos, this.rope.sin]);
  }
}

/** Reads the interface dimensions from an EVA-CLIP config. */
export function evaDimensions(config: EvaClipConfig): BackboneDimensions {
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
