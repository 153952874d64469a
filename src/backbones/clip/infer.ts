import * as t from 'io-ts';
import { ConfigFileError } from '../../io/json.js';
import type { RawTensor } from '../../io/safetensors.js';
import type { Activation } from '../layers.js';
import type { ClipConfig } from './config.js';

const activation = t.keyof({
  /** QuickGELU, x · sigmoid(1.702 x), which OpenAI CLIP was trained with. */
  quick_gelu: null,
  /** GELU in its exact erf form. */
  gelu: null,
});

const hfTower = t.partial({
  /** Width of the hidden states. */
  hidden_size: t.number,
  /** Hidden width of the MLP. */
  intermediate_size: t.number,
  /** Attention heads per block. */
  num_attention_heads: t.number,
  /** Number of transformer blocks. */
  num_hidden_layers: t.number,
  /** Activation between the two MLP projections. */
  hidden_act: activation,
  /** Epsilon of every layer norm. */
  layer_norm_eps: t.number,
  /** Text only: maximum number of tokens. */
  max_position_embeddings: t.number,
  /** Text only: rows of the token embedding table. */
  vocab_size: t.number,
  /** Vision only: input image side, pixels. */
  image_size: t.number,
  /** Vision only: patch side, pixels. */
  patch_size: t.number,
});

/** The fields of a HuggingFace `CLIPModel` config.json that vlm-compat reads. Missing fields take transformers' defaults. */
export const HfClipConfigJson = t.partial({
  /** Width of the joint image-text embedding space. */
  projection_dim: t.number,
  /** Text tower sizes. */
  text_config: hfTower,
  /** Vision tower sizes. */
  vision_config: hfTower,
});
/** The decoded form of {@link HfClipConfigJson}. */
export type HfClipConfigJson = t.TypeOf<typeof HfClipConfigJson>;

/** The fields of an open_clip `open_clip_config.json` that vlm-compat reads. */
export const OpenClipConfigJson = t.partial({
  /** The model architecture. */
  model_cfg: t.partial({
    /** Width of the joint image-text embedding space. */
    embed_dim: t.number,
    /** True for QuickGELU (OpenAI's weights), false for GELU. */
    quick_gelu: t.boolean,
    /** Vision tower sizes. */
    vision_cfg: t.partial({
      /** Width of the hidden states. */
      width: t.number,
      /** Number of transformer blocks. */
      layers: t.number,
      /** Width of one attention head; heads = width / head_width. */
      head_width: t.number,
      /** Patch side, pixels. */
      patch_size: t.number,
      /** Input image side, pixels. */
      image_size: t.number,
      /** MLP hidden width as a multiple of `width`; the loader reads the width from tensor shapes instead. */
      mlp_ratio: t.number,
    }),
    /** Text tower sizes. */
    text_cfg: t.partial({
      /** Width of the hidden states. */
      width: t.number,
      /** Number of transformer blocks. */
      layers: t.number,
      /** Attention heads per block. */
      heads: t.number,
      /** Maximum number of tokens. */
      context_length: t.number,
      /** Rows of the token embedding table. */
      vocab_size: t.number,
    }),
  }),
  /** Image preprocessing. */
  preprocess_cfg: t.partial({
    /** Per-channel mean (R, G, B) of pixel values scaled to [0, 1]. */
    mean: t.array(t.number),
    /** Per-channel standard deviation (R, G, B). */
    std: t.array(t.number),
    /** Resize filter: `bilinear`, else bicubic. */
    interpolation: t.string,
  }),
});
/** The decoded form of {@link OpenClipConfigJson}. */
export type OpenClipConfigJson = t.TypeOf<typeof OpenClipConfigJson>;

/** Builds a CLIP config from a HuggingFace config.json, with transformers' `CLIPConfig` defaults for absent fields. */
export function clipConfigFromHf(json: HfClipConfigJson): ClipConfig {
  const text = json.text_config ?? {};
  const vision = json.vision_config ?? {};
  const textWidth = text.hidden_size ?? 512;
  const visionWidth = vision.hidden_size ?? 768;
  return {
    embedDim: json.projection_dim ?? 512,
    text: {
      width: textWidth,
      layers: text.num_hidden_layers ?? 12,
      heads: text.num_attention_heads ?? 8,
      mlpWidth: text.intermediate_size ?? 2048,
      activation: text.hidden_act ?? 'quick_gelu',
      layerNormEps: text.layer_norm_eps ?? 1e-5,
      contextLength: text.max_position_embeddings ?? 77,
      vocabSize: text.vocab_size ?? 49408,
    },
    vision: {
      width: visionWidth,
      layers: vision.num_hidden_layers ?? 12,
      heads: vision.num_attention_heads ?? 12,
      mlpWidth: vision.intermediate_size ?? 3072,
      activation: vision.hidden_act ?? 'quick_gelu',
      layerNormEps: vision.layer_norm_eps ?? 1e-5,
      imageSize: vision.image_size ?? 224,
      patchSize: vision.patch_size ?? 32,
    },
  };
}

function countLayers(keys: Iterable<string>, prefix: string): number {
  const pattern = new RegExp(`^${prefix.replace(/\./g, '\\.')}(\\d+)\\.`);
  let layers = 0;
  for (const key of keys) {
    const match = pattern.exec(key);
    if (match !== null) layers = Math.max(layers, Number(match[1]) + 1);
  }
  return layers;
}

function shapeOf(tensors: ReadonlyMap<string, RawTensor>, key: string, source: string): readonly number[] {
  const tensor = tensors.get(key);
  if (tensor === undefined) {
    throw new ConfigFileError(`${source} has no tensor "${key}", so its architecture cannot be inferred; is it an OpenAI / open_clip CLIP checkpoint?`);
  }
  return tensor.shape;
}

function dim(shape: readonly number[], axis: number): number {
  return shape[axis] ?? 0;
}

/**
 * Infers the architecture of an OpenAI / open_clip checkpoint from its tensor shapes, as open_clip does.
 * Head counts and the activation are not visible in shapes: they come from open_clip_config.json when
 * present, else from open_clip's defaults (64-wide heads, and QuickGELU as OpenAI trained with).
 */
export function inferOpenClipConfig(tensors: ReadonlyMap<string, RawTensor>, source: string, json: OpenClipConfigJson = {}): ClipConfig {
  const model = json.model_cfg ?? {};
  const conv = shapeOf(tensors, 'visual.conv1.weight', source);
  const visionWidth = dim(conv, 0);
  const patchSize = dim(conv, 3);
  const grid = Math.round(Math.sqrt(dim(shapeOf(tensors, 'visual.positional_embedding', source), 0) - 1));
  const textWidth = dim(shapeOf(tensors, 'ln_final.weight', source), 0);
  const keys = [...tensors.keys()];
  const activation: Activation = model.quick_gelu === false ? 'gelu' : 'quick_gelu';
  const textHeads = model.text_cfg?.heads ?? textWidth / 64;
  const visionHeads = visionWidth / (model.vision_cfg?.head_width ?? 64);
  if (!Number.isInteger(textHeads) || !Number.isInteger(visionHeads)) {
    throw new ConfigFileError(
      `${source}: head counts cannot be inferred (text width ${textWidth}, vision width ${visionWidth} are not multiples of 64); add open_clip_config.json with text_cfg.heads and vision_cfg.head_width`,
    );
  }
  return {
    embedDim: dim(shapeOf(tensors, 'text_projection', source), 1),
    text: {
      width: textWidth,
      layers: countLayers(keys, 'transformer.resblocks.'),
      heads: textHeads,
      mlpWidth: dim(shapeOf(tensors, 'transformer.resblocks.0.mlp.c_fc.weight', source), 0),
      activation,
      layerNormEps: 1e-5,
      contextLength: dim(shapeOf(tensors, 'positional_embedding', source), 0),
      vocabSize: dim(shapeOf(tensors, 'token_embedding.weight', source), 0),
    },
    vision: {
      width: visionWidth,
      layers: countLayers(keys, 'visual.transformer.resblocks.'),
      heads: visionHeads,
      mlpWidth: dim(shapeOf(tensors, 'visual.transformer.resblocks.0.mlp.c_fc.weight', source), 0),
      activation,
      layerNormEps: 1e-5,
      imageSize: patchSize * grid,
      patchSize,
    },
  };
}

/** Writes a HuggingFace config.json object for a CLIP config. */
export function clipConfigToHf(config: ClipConfig): Record<string, unknown> {
  return {
    architectures: ['CLIPModel'],
    model_type: 'clip',
    projection_dim: config.embedDim,
    logit_scale_init_value: 2.6592,
    text_config: {
      hidden_size: config.text.width,
      intermediate_size: config.text.mlpWidth,
      num_attention_heads: config.text.heads,
      num_hidden_layers: config.text.layers,
      max_position_embeddings: config.text.contextLength,
      vocab_size: config.text.vocabSize,
      hidden_act: config.text.activation,
      layer_norm_eps: config.text.layerNormEps,
    },
    vision_config: {
      hidden_size: config.vision.width,
      intermediate_size: config.vision.mlpWidth,
      num_attention_heads: config.vision.heads,
      num_hidden_layers: config.vision.layers,
      image_size: config.vision.imageSize,
      patch_size: config.vision.patchSize,
      hidden_act: config.vision.activation,
      layer_norm_eps: config.vision.layerNormEps,
    },
  };
}

/** Writes an open_clip_config.json object for a CLIP config. */
export function clipConfigToOpenClip(config: ClipConfig): OpenClipConfigJson {
  return {
    model_cfg: {
      embed_dim: config.embedDim,
      quick_gelu: config.vision.activation === 'quick_gelu',
      vision_cfg: {
        width: config.vision.width,
        layers: config.vision.layers,
        head_width: config.vision.width / config.vision.heads,
        patch_size: config.vision.patchSize,
        image_size: config.vision.imageSize,
      },
      text_cfg: {
        width: config.text.width,
        layers: config.text.layers,
        heads: config.text.heads,
        context_length: config.text.contextLength,
        vocab_size: config.text.vocabSize,
      },
    },
  };
}
