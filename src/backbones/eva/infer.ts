import * as t from 'io-ts';
import { ConfigFileError } from '../../io/json.js';
import type { RawTensor } from '../../io/safetensors.js';
import { openaiClipPreprocess, type PreprocessConfig } from '../preprocess.js';
import type { EvaClipConfig } from './config.js';
import { evaVisionPrefix, type EvaLayout, type EvaTextPrefix } from './layouts.js';

/**
 * The fields of an EVA-CLIP `open_clip_config.json` that vlm-compat reads. `model_cfg` has the form of
 * EVA-CLIP's model configs (EVA02-CLIP-B-16.json: `eva_model_name`, `rope`, `pt_hw_seq_len`, `intp_freq`,
 * `naiveswiglu`, `subln`) or of open_clip's (EVA02-B-16.json: `timm_model_name`, `custom_text`).
 */
export const EvaOpenClipConfigJson = t.partial({
  /** The model architecture. Sizes stated here are checked against the weights. */
  model_cfg: t.partial({
    /** Width of the joint image-text embedding space. */
    embed_dim: t.number,
    /** Whether the text tower uses QuickGELU, x·σ(1.702x), rather than GELU. Default false. */
    quick_gelu: t.boolean,
    /** Whether the text tower keys are stored under `text.`. */
    custom_text: t.boolean,
    /** The vision tower. */
    vision_cfg: t.partial({
      /** Input image side, pixels. */
      image_size: t.number,
      /** Number of transformer blocks. */
      layers: t.number,
      /** Width of the hidden states. */
      width: t.number,
      /** Width of one attention head, so heads = width / head_width. Default 64. */
      head_width: t.number,
      /** Patch side, pixels. */
      patch_size: t.number,
      /** Hidden width of the SwiGLU MLP ÷ width, 2.6667 in EVA02-CLIP-B/16. */
      mlp_ratio: t.number,
      /** EVA-CLIP's name of the vision model. Its presence marks a config in EVA-CLIP's form. */
      eva_model_name: t.string,
      /** open_clip's timm tower, which must be an EVA-02 CLIP tower such as `eva02_base_patch16_clip_224`. */
      timm_model_name: t.string,
      /** Whether the tower uses 2-D rotary position embedding. Must be true in EVA-CLIP's form. */
      rope: t.boolean,
      /** Patch grid side the rotary embedding was pretrained at. Default 16. */
      pt_hw_seq_len: t.number,
      /** Whether rotary positions are scaled to `pt_hw_seq_len`. Default false in EVA-CLIP's form, true otherwise. */
      intp_freq: t.boolean,
      /** Whether the MLP is SwiGLU. Must be true in EVA-CLIP's form. */
      naiveswiglu: t.boolean,
      /** Whether attention and MLP have sub-LN. Must be true in EVA-CLIP's form. */
      subln: t.boolean,
      /** Whether q and v have biases. False is rejected. */
      qkv_bias: t.boolean,
      /** Whether blocks are post-norm. True is rejected. */
      postnorm: t.boolean,
      /** Whether the patch tokens are mean-pooled instead of taking the class token. True is rejected. */
      global_average_pool: t.boolean,
    }),
    /** The text tower, CLIP's transformer. */
    text_cfg: t.partial({
      /** Width of the hidden states. */
      width: t.number,
      /** Number of transformer blocks. */
      layers: t.number,
      /** Attention heads per block. Default width / 64. */
      heads: t.number,
      /** Maximum number of text tokens, start- and end-of-text included. */
      context_length: t.number,
      /** Rows of the token embedding table. */
      vocab_size: t.number,
      /** A HuggingFace text model in place of CLIP's text transformer, rejected when set. */
      hf_model_name: t.string,
    }),
  }),
  /** Image preprocessing. Absent fields take OpenAI CLIP's values. */
  preprocess_cfg: t.partial({
    /** Per-channel mean (R, G, B) subtracted after scaling pixels to 0..1. */
    mean: t.array(t.number),
    /** Per-channel standard deviation (R, G, B) divided by after subtracting the mean. */
    std: t.array(t.number),
    /** Resize filter: `bilinear`, else bicubic. */
    interpolation: t.string,
  }),
});
/** The decoded form of {@link EvaOpenClipConfigJson}. */
export type EvaOpenClipConfigJson = t.TypeOf<typeof EvaOpenClipConfigJson>;

/** Head width EVA-CLIP and open_clip assume when a config does not give one. */
const defaultHeadWidth = 64;
/** EVA-CLIP's default `pt_hw_seq_len`, and the `ref_feat_shape` timm gives its EVA-02 CLIP models. */
const defaultRopeReferenceGrid = 16;

/** Rejects configs of EVA variants this tower does not implement (EVA-01, mean pooling, post-norm, HuggingFace text towers). */
function checkSupported(json: EvaOpenClipConfigJson, file: string): void {
  const vision = json.model_cfg?.vision_cfg ?? {};
  const problems: string[] = [];
  if (vision.eva_model_name !== undefined) {
    // EVA-CLIP's CLIPVisionCfg defaults rope, naiveswiglu and subln to false, so EVA-02 configs set them.
    for (const flag of ['rope', 'naiveswiglu', 'subln'] as const) {
      if (vision[flag] !== true) problems.push(`vision_cfg.${flag} is ${vision[flag] ?? 'absent (false)'}, EVA-02 needs true`);
    }
  }
  if (vision.timm_model_name !== undefined && !/^eva02_.*clip/.test(vision.timm_model_name)) {
    problems.push(`vision_cfg.timm_model_name is "${vision.timm_model_name}", expected a timm EVA-02 CLIP tower such as eva02_base_patch16_clip_224`);
  }
  if (vision.postnorm === true) problems.push('vision_cfg.postnorm is true; only pre-norm blocks are supported');
  if (vision.global_average_pool === true) problems.push('vision_cfg.global_average_pool is true; only class-token pooling is supported');
  if (vision.qkv_bias === false) problems.push('vision_cfg.qkv_bias is false; EVA-02 CLIP has q and v biases');
  if (json.model_cfg?.text_cfg?.hf_model_name !== undefined) problems.push(`text_cfg.hf_model_name is "${json.model_cfg.text_cfg.hf_model_name}"; only CLIP's own text transformer is supported`);
  if (problems.length > 0) {
    throw new ConfigFileError(`${file} describes a model the EVA-02 CLIP backbone does not implement:\n  ${problems.join('\n  ')}`);
  }
}

function countLayers(keys: Iterable<string>, prefix: string): number {
  let layers = 0;
  for (const key of keys) {
    if (!key.startsWith(prefix)) continue;
    const index = Number(key.slice(prefix.length).split('.')[0]);
    if (Number.isInteger(index)) layers = Math.max(layers, index + 1);
  }
  return layers;
}

/**
 * Infers an EVA-CLIP architecture from tensor shapes and checks it against open_clip_config.json when one is
 * given. Shapes give every size. The config gives what shapes cannot show:
 * - head counts: `head_width`, else the width of a stored rotary table, else 64;
 * - the text activation: `quick_gelu`, else GELU as EVA02-CLIP uses;
 * - the rotary reference grid: `pt_hw_seq_len` with `intp_freq`, else 16.
 */
export function inferEvaConfig(
  tensors: ReadonlyMap<string, RawTensor>,
  source: string,
  layout: EvaLayout,
  textPrefix: EvaTextPrefix,
  json: EvaOpenClipConfigJson = {},
  configFile = 'open_clip_config.json',
): EvaClipConfig {
  checkSupported(json, configFile);
  const shape = (key: string): readonly number[] => {
    const tensor = tensors.get(key);
    if (tensor === undefined) {
      throw new ConfigFileError(`${source} has no tensor "${key}", so its EVA-CLIP architecture cannot be inferred; is it a complete ${layout} checkpoint?`);
    }
    return tensor.shape;
  };
  const dim = (key: string, axis: number): number => shape(key)[axis] ?? 0;
  const model = json.model_cfg ?? {};
  const v = evaVisionPrefix[layout];
  const keys = [...tensors.keys()];

  const width = dim(`${v}patch_embed.proj.weight`, 0);
  const patchSize = dim(`${v}patch_embed.proj.weight`, 3);
  const grid = Math.sqrt(dim(`${v}pos_embed`, 1) - 1);
  if (!Number.isInteger(grid)) {
    throw new ConfigFileError(`${source}: ${v}pos_embed has ${dim(`${v}pos_embed`, 1)} positions, not 1 class token plus a square patch grid`);
  }
  const gateKey = layout === 'eva-clip' ? 'mlp.w1.weight' : 'mlp.fc1_g.weight';
  const ropeWidth = tensors.get('visual.rope.freqs_cos')?.shape[1];
  const headWidth = model.vision_cfg?.head_width ?? ropeWidth ?? defaultHeadWidth;
  const textWidth = dim(`${textPrefix}ln_final.weight`, 0);
  const textHeads = model.text_cfg?.heads ?? textWidth / defaultHeadWidth;
  const visionHeads = width / headWidth;
  if (!Number.isInteger(textHeads) || !Number.isInteger(visionHeads)) {
    throw new ConfigFileError(
      `${source}: head counts cannot be inferred (text width ${textWidth}, vision width ${width}, vision head width ${headWidth}); add ${configFile} with text_cfg.heads and vision_cfg.head_width`,
    );
  }

  const config: EvaClipConfig = {
    embedDim: dim(`${v}head.weight`, 0),
    text: {
      width: textWidth,
      layers: countLayers(keys, `${textPrefix}transformer.resblocks.`),
      heads: textHeads,
      mlpWidth: dim(`${textPrefix}transformer.resblocks.0.mlp.c_fc.weight`, 0),
      activation: model.quick_gelu === true ? 'quick_gelu' : 'gelu',
      layerNormEps: 1e-5,
      contextLength: dim(`${textPrefix}positional_embedding`, 0),
      vocabSize: dim(`${textPrefix}token_embedding.weight`, 0),
    },
    vision: {
      width,
      layers: countLayers(keys, `${v}blocks.`),
      heads: visionHeads,
      mlpWidth: dim(`${v}blocks.0.${gateKey}`, 0),
      layerNormEps: 1e-6,
      imageSize: patchSize * grid,
      patchSize,
      ropeReferenceGrid: ropeReferenceGrid(json, grid, configFile),
    },
  };
  checkAgainstJson(config, json, source, configFile);
  return config;
}

/**
 * Reads the rotary reference grid. With `intp_freq`, EVA-CLIP scales patch positions to `pt_hw_seq_len`.
 * Without it, which is EVA-CLIP's default when `eva_model_name` is set, positions are 0..grid-1. EVA-CLIP
 * supports that only when `pt_hw_seq_len` equals the grid.
 */
function ropeReferenceGrid(json: EvaOpenClipConfigJson, grid: number, configFile: string): number {
  const vision = json.model_cfg?.vision_cfg ?? {};
  const reference = vision.pt_hw_seq_len ?? defaultRopeReferenceGrid;
  const interpolates = vision.intp_freq ?? vision.eva_model_name === undefined;
  if (interpolates) return reference;
  if (reference !== grid) {
    throw new ConfigFileError(
      `${configFile}: vision_cfg.intp_freq is off, so the rotary table has pt_hw_seq_len = ${reference} positions per side, but the patch grid is ${grid}; set intp_freq to true or pt_hw_seq_len to ${grid}`,
    );
  }
  return grid;
}

/** Lists every size open_clip_config.json states that differs from the weights, in one error. */
function checkAgainstJson(config: EvaClipConfig, json: EvaOpenClipConfigJson, source: string, configFile: string): void {
  const model = json.model_cfg ?? {};
  const vision = model.vision_cfg ?? {};
  const text = model.text_cfg ?? {};
  const mismatches: string[] = [];
  const compare = (field: string, stated: number | undefined, actual: number) => {
    if (stated !== undefined && stated !== actual) mismatches.push(`${field} is ${stated}, the weights have ${actual}`);
  };
  compare('embed_dim', model.embed_dim, config.embedDim);
  compare('vision_cfg.width', vision.width, config.vision.width);
  compare('vision_cfg.layers', vision.layers, config.vision.layers);
  compare('vision_cfg.patch_size', vision.patch_size, config.vision.patchSize);
  compare('vision_cfg.image_size', vision.image_size, config.vision.imageSize);
  if (vision.mlp_ratio !== undefined && Math.abs(Math.floor(config.vision.width * vision.mlp_ratio) - config.vision.mlpWidth) > 1) {
    mismatches.push(`vision_cfg.mlp_ratio ${vision.mlp_ratio} gives an MLP width of ${Math.floor(config.vision.width * vision.mlp_ratio)}, the weights have ${config.vision.mlpWidth}`);
  }
  compare('text_cfg.width', text.width, config.text.width);
  compare('text_cfg.layers', text.layers, config.text.layers);
  compare('text_cfg.context_length', text.context_length, config.text.contextLength);
  compare('text_cfg.vocab_size', text.vocab_size, config.text.vocabSize);
  if (mismatches.length > 0) {
    throw new ConfigFileError(`${configFile} does not describe ${source}:\n  ${mismatches.join('\n  ')}\nUse the config that ships with these weights, or delete it to infer the architecture from the weights.`);
  }
}

/**
 * Writes an open_clip_config.json object for an EVA-CLIP config, with `model_cfg` in the form of EVA-CLIP's
 * model configs. `custom_text` marks text keys stored under `text.`, as open_clip and EVA-CLIP mark them.
 * NOTE: open_clip itself builds EVA-02 towers only from a `timm_model_name`, so it does not read this `vision_cfg`.
 */
export function evaConfigToOpenClip(
  config: EvaClipConfig,
  textPrefix: EvaTextPrefix,
  preprocess: PreprocessConfig = openaiClipPreprocess(config.vision.imageSize),
): Record<string, unknown> {
  const v = config.vision;
  return {
    model_cfg: {
      embed_dim: config.embedDim,
      quick_gelu: config.text.activation === 'quick_gelu',
      ...(textPrefix === 'text.' ? { custom_text: true } : {}),
      vision_cfg: {
        image_size: v.imageSize,
        layers: v.layers,
        width: v.width,
        head_width: v.width / v.heads,
        patch_size: v.patchSize,
        mlp_ratio: v.mlpWidth / v.width,
        eva_model_name: 'eva02-clip',
        rope: true,
        pt_hw_seq_len: v.ropeReferenceGrid,
        intp_freq: true,
        naiveswiglu: true,
        subln: true,
      },
      text_cfg: {
        context_length: config.text.contextLength,
        vocab_size: config.text.vocabSize,
        width: config.text.width,
        heads: config.text.heads,
        layers: config.text.layers,
      },
    },
    preprocess_cfg: { mean: [...preprocess.mean], std: [...preprocess.std], interpolation: preprocess.interpolation },
  };
}

function triple(values: readonly number[] | undefined, fallback: readonly [number, number, number], field: string, configFile: string): [number, number, number] {
  if (values === undefined) return [...fallback];
  if (values.length !== 3) throw new ConfigFileError(`${configFile}: preprocess_cfg.${field} must have 3 values (R, G, B), found ${values.length}`);
  return [values[0] as number, values[1] as number, values[2] as number];
}

/** Reads image preprocessing from open_clip_config.json's `preprocess_cfg`; absent fields take OpenAI CLIP's values, which EVA-CLIP uses. */
export function evaPreprocess(imageSize: number, json: EvaOpenClipConfigJson | undefined, configFile = 'open_clip_config.json'): PreprocessConfig {
  const defaults = openaiClipPreprocess(imageSize);
  const cfg = json?.preprocess_cfg;
  if (cfg === undefined) return defaults;
  const interpolation = cfg.interpolation === 'bilinear' ? 'bilinear' : 'bicubic';
  return { imageSize, mean: triple(cfg.mean, defaults.mean, 'mean', configFile), std: triple(cfg.std, defaults.std, 'std', configFile), interpolation };
}
