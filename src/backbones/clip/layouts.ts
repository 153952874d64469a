import type * as tf from '@tensorflow/tfjs-core';
import type { LayoutEntry } from '../checkpoint.js';
import type { LayerNormWeights, LinearWeights } from '../layers.js';
import type { ClipBlockWeights, ClipConfig, ClipTowerConfig, ClipWeights } from './config.js';

/** The two real CLIP checkpoint layouts: HuggingFace transformers `CLIPModel`, and OpenAI / open_clip. */
export type ClipLayout = 'hf' | 'openai';

type TowerPrefix = 'text' | 'vision';

function blockCanonical(tower: TowerPrefix, layer: number, part: string): string {
  return `${tower}.blocks.${layer}.${part}`;
}

function hfBlock(tower: TowerPrefix, layer: number, config: ClipTowerConfig): LayoutEntry[] {
  const prefix = `${tower === 'text' ? 'text_model' : 'vision_model'}.encoder.layers.${layer}.`;
  const c = (part: string) => [blockCanonical(tower, layer, part)];
  const w = config.width;
  const entries: LayoutEntry[] = [];
  for (const [hf, ours] of [['q_proj', 'q'], ['k_proj', 'k'], ['v_proj', 'v'], ['out_proj', 'out']] as const) {
    entries.push({ key: `${prefix}self_attn.${hf}.weight`, shape: [w, w], canonical: c(`${ours}.weight`), conversion: 'transpose' });
    entries.push({ key: `${prefix}self_attn.${hf}.bias`, shape: [w], canonical: c(`${ours}.bias`), conversion: 'copy' });
  }
  for (const [hf, ours] of [['layer_norm1', 'ln1'], ['layer_norm2', 'ln2']] as const) {
    entries.push({ key: `${prefix}${hf}.weight`, shape: [w], canonical: c(`${ours}.gamma`), conversion: 'copy' });
    entries.push({ key: `${prefix}${hf}.bias`, shape: [w], canonical: c(`${ours}.beta`), conversion: 'copy' });
  }
  entries.push({ key: `${prefix}mlp.fc1.weight`, shape: [config.mlpWidth, w], canonical: c('fc1.weight'), conversion: 'transpose' });
  entries.push({ key: `${prefix}mlp.fc1.bias`, shape: [config.mlpWidth], canonical: c('fc1.bias'), conversion: 'copy' });
  entries.push({ key: `${prefix}mlp.fc2.weight`, shape: [w, config.mlpWidth], canonical: c('fc2.weight'), conversion: 'transpose' });
  entries.push({ key: `${prefix}mlp.fc2.bias`, shape: [w], canonical: c('fc2.bias'), conversion: 'copy' });
  return entries;
}

function openaiBlock(tower: TowerPrefix, layer: number, config: ClipTowerConfig): LayoutEntry[] {
  const prefix = `${tower === 'text' ? '' : 'visual.'}transformer.resblocks.${layer}.`;
  const c = (part: string) => [blockCanonical(tower, layer, part)];
  const w = config.width;
  return [
    { key: `${prefix}attn.in_proj_weight`, shape: [3 * w, w], canonical: ['q', 'k', 'v'].map((p) => blockCanonical(tower, layer, `${p}.weight`)), conversion: 'split3' },
    { key: `${prefix}attn.in_proj_bias`, shape: [3 * w], canonical: ['q', 'k', 'v'].map((p) => blockCanonical(tower, layer, `${p}.bias`)), conversion: 'split3' },
    { key: `${prefix}attn.out_proj.weight`, shape: [w, w], canonical: c('out.weight'), conversion: 'transpose' },
    { key: `${prefix}attn.out_proj.bias`, shape: [w], canonical: c('out.bias'), conversion: 'copy' },
    { key: `${prefix}ln_1.weight`, shape: [w], canonical: c('ln1.gamma'), conversion: 'copy' },
    { key: `${prefix}ln_1.bias`, shape: [w], canonical: c('ln1.beta'), conversion: 'copy' },
    { key: `${prefix}ln_2.weight`, shape: [w], canonical: c('ln2.gamma'), conversion: 'copy' },
    { key: `${prefix}ln_2.bias`, shape: [w], canonical: c('ln2.beta'), conversion: 'copy' },
    { key: `${prefix}mlp.c_fc.weight`, shape: [config.mlpWidth, w], canonical: c('fc1.weight'), conversion: 'transpose' },
    { key: `${prefix}mlp.c_fc.bias`, shape: [config.mlpWidth], canonical: c('fc1.bias'), conversion: 'copy' },
    { key: `${prefix}mlp.c_proj.weight`, shape: [w, config.mlpWidth], canonical: c('fc2.weight'), conversion: 'transpose' },
    { key: `${prefix}mlp.c_proj.bias`, shape: [w], canonical: c('fc2.bias'), conversion: 'copy' },
  ];
}

function norm(key: string, width: number, canonical: string): LayoutEntry[] {
  return [
    { key: `${key}.weight`, shape: [width], canonical: [`${canonical}.gamma`], conversion: 'copy' },
    { key: `${key}.bias`, shape: [width], canonical: [`${canonical}.beta`], conversion: 'copy' },
  ];
}

/** Lists every tensor a CLIP checkpoint of this layout and config holds, with its shape and canonical name. */
export function clipTextLayout(config: ClipConfig, layout: ClipLayout): LayoutEntry[] {
  const t = config.text;
  const blocks = Array.from({ length: t.layers }, (_, i) => (layout === 'hf' ? hfBlock('text', i, t) : openaiBlock('text', i, t))).flat();
  if (layout === 'hf') {
    return [
      { key: 'text_model.embeddings.token_embedding.weight', shape: [t.vocabSize, t.width], canonical: ['text.token_embedding'], conversion: 'copy' },
      { key: 'text_model.embeddings.position_embedding.weight', shape: [t.contextLength, t.width], canonical: ['text.position_embedding'], conversion: 'copy' },
      ...blocks,
      ...norm('text_model.final_layer_norm', t.width, 'text.ln_final'),
      { key: 'text_projection.weight', shape: [config.embedDim, t.width], canonical: ['text.projection'], conversion: 'transpose' },
    ];
  }
  return [
    { key: 'token_embedding.weight', shape: [t.vocabSize, t.width], canonical: ['text.token_embedding'], conversion: 'copy' },
    { key: 'positional_embedding', shape: [t.contextLength, t.width], canonical: ['text.position_embedding'], conversion: 'copy' },
    ...blocks,
    ...norm('ln_final', t.width, 'text.ln_final'),
    { key: 'text_projection', shape: [t.width, config.embedDim], canonical: ['text.projection'], conversion: 'copy' },
  ];
}

/** Lists every tensor of the CLIP vision tower in this layout. */
export function clipVisionLayout(config: ClipConfig, layout: ClipLayout): LayoutEntry[] {
  const v = config.vision;
  const positions = (v.imageSize / v.patchSize) ** 2 + 1;
  const blocks = Array.from({ length: v.layers }, (_, i) => (layout === 'hf' ? hfBlock('vision', i, v) : openaiBlock('vision', i, v))).flat();
  const conv = [v.width, 3, v.patchSize, v.patchSize];
  if (layout === 'hf') {
    return [
      { key: 'vision_model.embeddings.class_embedding', shape: [v.width], canonical: ['vision.class_embedding'], conversion: 'copy' },
      { key: 'vision_model.embeddings.patch_embedding.weight', shape: conv, canonical: ['vision.patch_embedding'], conversion: 'conv' },
      { key: 'vision_model.embeddings.position_embedding.weight', shape: [positions, v.width], canonical: ['vision.position_embedding'], conversion: 'copy' },
      // "pre_layrnorm" is the real (misspelled) key in transformers' CLIPVisionTransformer.
      ...norm('vision_model.pre_layrnorm', v.width, 'vision.ln_pre'),
      ...blocks,
      ...norm('vision_model.post_layernorm', v.width, 'vision.ln_post'),
      { key: 'visual_projection.weight', shape: [config.embedDim, v.width], canonical: ['vision.projection'], conversion: 'transpose' },
    ];
  }
  return [
    { key: 'visual.class_embedding', shape: [v.width], canonical: ['vision.class_embedding'], conversion: 'copy' },
    { key: 'visual.conv1.weight', shape: conv, canonical: ['vision.patch_embedding'], conversion: 'conv' },
    { key: 'visual.positional_embedding', shape: [positions, v.width], canonical: ['vision.position_embedding'], conversion: 'copy' },
    ...norm('visual.ln_pre', v.width, 'vision.ln_pre'),
    ...blocks,
    ...norm('visual.ln_post', v.width, 'vision.ln_post'),
    { key: 'visual.proj', shape: [v.width, config.embedDim], canonical: ['vision.projection'], conversion: 'copy' },
  ];
}

/** Lists every tensor of a whole CLIP checkpoint in this layout. */
export function clipLayout(config: ClipConfig, layout: ClipLayout): LayoutEntry[] {
  return [
    ...clipTextLayout(config, layout),
    ...clipVisionLayout(config, layout),
    { key: 'logit_scale', shape: [], canonical: ['logit_scale'], conversion: 'copy' },
  ];
}

/**
 * Keys that real checkpoints carry but that hold no weights: HuggingFace's `position_ids` buffers (saved by
 * transformers before 4.31) and the metadata scalars of OpenAI's JIT archives.
 */
export function isIgnorableClipKey(key: string, layout: ClipLayout): boolean {
  if (layout === 'hf') return key === 'text_model.embeddings.position_ids' || key === 'vision_model.embeddings.position_ids';
  return key === 'input_resolution' || key === 'context_length' || key === 'vocab_size';
}

function take<T extends tf.Tensor>(canonical: ReadonlyMap<string, tf.Tensor>, name: string): T {
  const t = canonical.get(name);
  if (t === undefined) throw new Error(`internal: canonical tensor ${name} is missing`);
  return t as T;
}

function takeNorm(canonical: ReadonlyMap<string, tf.Tensor>, name: string, eps: number): LayerNormWeights {
  return { gamma: take(canonical, `${name}.gamma`), beta: take(canonical, `${name}.beta`), eps };
}

function takeLinear(canonical: ReadonlyMap<string, tf.Tensor>, name: string): LinearWeights {
  return { weight: take<tf.Tensor2D>(canonical, `${name}.weight`), bias: take<tf.Tensor1D>(canonical, `${name}.bias`) };
}

/** Reads the blocks of one tower from canonical tensors. */
export function takeClipBlocks(canonical: ReadonlyMap<string, tf.Tensor>, tower: TowerPrefix, config: ClipTowerConfig): ClipBlockWeights[] {
  return Array.from({ length: config.layers }, (_, i) => {
    const p = `${tower}.blocks.${i}`;
    return {
      ln1: takeNorm(canonical, `${p}.ln1`, config.layerNormEps),
      q: takeLinear(canonical, `${p}.q`),
      k: takeLinear(canonical, `${p}.k`),
      v: takeLinear(canonical, `${p}.v`),
      out: takeLinear(canonical, `${p}.out`),
      ln2: takeNorm(canonical, `${p}.ln2`, config.layerNormEps),
      fc1: takeLinear(canonical, `${p}.fc1`),
      fc2: takeLinear(canonical, `${p}.fc2`),
    };
  });
}

/** Reads the text tower from canonical tensors. */
export function takeClipText(canonical: ReadonlyMap<string, tf.Tensor>, config: ClipConfig['text']): ClipWeights['text'] {
  return {
    tokenEmbedding: take(canonical, 'text.token_embedding'),
    positionEmbedding: take(canonical, 'text.position_embedding'),
    blocks: takeClipBlocks(canonical, 'text', config),
    lnFinal: takeNorm(canonical, 'text.ln_final', config.layerNormEps),
    projection: take(canonical, 'text.projection'),
  };
}

/** Assembles CLIP weights from canonical tensors. */
export function clipWeightsFromCanonical(canonical: ReadonlyMap<string, tf.Tensor>, config: ClipConfig): ClipWeights {
  const v = config.vision;
  return {
    text: takeClipText(canonical, config.text),
    vision: {
      patchEmbedding: take(canonical, 'vision.patch_embedding'),
      classEmbedding: take(canonical, 'vision.class_embedding'),
      positionEmbedding: take(canonical, 'vision.position_embedding'),
      lnPre: takeNorm(canonical, 'vision.ln_pre', v.layerNormEps),
      blocks: takeClipBlocks(canonical, 'vision', v),
      lnPost: takeNorm(canonical, 'vision.ln_post', v.layerNormEps),
      projection: take(canonical, 'vision.projection'),
    },
    logitScale: take<tf.Tensor>(canonical, 'logit_scale').dataSync()[0] as number,
  };
}
