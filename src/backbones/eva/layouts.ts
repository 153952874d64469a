import type * as tf from '@tensorflow/tfjs-core';
import type { LayoutEntry } from '../checkpoint.js';
import type { ClipConfig, ClipTextWeights } from '../clip/config.js';
import { clipTextLayout, takeClipText } from '../clip/layouts.js';
import type { LayerNormWeights, LinearWeights } from '../layers.js';
import type { EvaBlockWeights, EvaClipConfig, EvaVisionWeights } from './config.js';

/**
 * The two real EVA-CLIP checkpoint layouts: `eva-clip` is the state dict of BAAI's EVA-CLIP code
 * (`visual.blocks.N.attn.q_bias`, `mlp.w1`..`w3`, as in EVA02_CLIP_B_psz16_s8B.pt), and `open-clip` is
 * open_clip's wrapping of timm's Eva (`visual.trunk.blocks.N.mlp.fc1_g`, as on the `timm/eva02_*_clip_*` Hub repositories).
 */
export type EvaLayout = 'eva-clip' | 'open-clip';

/**
 * Prefix of the text tower keys. EVA-CLIP's `CLIP` class stores them at the top level like OpenAI CLIP;
 * open_clip's and EVA-CLIP's `CustomCLIP` store them under `text.`.
 */
export type EvaTextPrefix = '' | 'text.';

/** Canonical block part → checkpoint key suffix, per layout. */
const blockKeys: Record<EvaLayout, Record<string, string>> = {
  'eva-clip': {
    'ln1.gamma': 'norm1.weight',
    'ln1.beta': 'norm1.bias',
    'q.weight': 'attn.q_proj.weight',
    'q.bias': 'attn.q_bias',
    'k.weight': 'attn.k_proj.weight',
    'v.weight': 'attn.v_proj.weight',
    'v.bias': 'attn.v_bias',
    'attn_norm.gamma': 'attn.inner_attn_ln.weight',
    'attn_norm.beta': 'attn.inner_attn_ln.bias',
    'out.weight': 'attn.proj.weight',
    'out.bias': 'attn.proj.bias',
    'ln2.gamma': 'norm2.weight',
    'ln2.beta': 'norm2.bias',
    'mlp_gate.weight': 'mlp.w1.weight',
    'mlp_gate.bias': 'mlp.w1.bias',
    'mlp_in.weight': 'mlp.w2.weight',
    'mlp_in.bias': 'mlp.w2.bias',
    'mlp_norm.gamma': 'mlp.ffn_ln.weight',
    'mlp_norm.beta': 'mlp.ffn_ln.bias',
    'mlp_out.weight': 'mlp.w3.weight',
    'mlp_out.bias': 'mlp.w3.bias',
  },
  'open-clip': {
    'ln1.gamma': 'norm1.weight',
    'ln1.beta': 'norm1.bias',
    'q.weight': 'attn.q_proj.weight',
    'q.bias': 'attn.q_proj.bias',
    'k.weight': 'attn.k_proj.weight',
    'v.weight': 'attn.v_proj.weight',
    'v.bias': 'attn.v_proj.bias',
    'attn_norm.gamma': 'attn.norm.weight',
    'attn_norm.beta': 'attn.norm.bias',
    'out.weight': 'attn.proj.weight',
    'out.bias': 'attn.proj.bias',
    'ln2.gamma': 'norm2.weight',
    'ln2.beta': 'norm2.bias',
    'mlp_gate.weight': 'mlp.fc1_g.weight',
    'mlp_gate.bias': 'mlp.fc1_g.bias',
    'mlp_in.weight': 'mlp.fc1_x.weight',
    'mlp_in.bias': 'mlp.fc1_x.bias',
    'mlp_norm.gamma': 'mlp.norm.weight',
    'mlp_norm.beta': 'mlp.norm.bias',
    'mlp_out.weight': 'mlp.fc2.weight',
    'mlp_out.bias': 'mlp.fc2.bias',
  },
};

/** Prefix of the vision tower keys in each layout. */
export const evaVisionPrefix: Record<EvaLayout, string> = { 'eva-clip': 'visual.', 'open-clip': 'visual.trunk.' };

function blockEntries(config: EvaClipConfig, layout: EvaLayout, layer: number): LayoutEntry[] {
  const { width, mlpWidth } = config.vision;
  const prefix = `${evaVisionPrefix[layout]}blocks.${layer}.`;
  // Checkpoint shapes; PyTorch Linear weights are [out, in].
  const shapes: Record<string, number[]> = {
    'q.weight': [width, width],
    'k.weight': [width, width],
    'v.weight': [width, width],
    'out.weight': [width, width],
    'mlp_gate.weight': [mlpWidth, width],
    'mlp_in.weight': [mlpWidth, width],
    'mlp_out.weight': [width, mlpWidth],
    'mlp_gate.bias': [mlpWidth],
    'mlp_in.bias': [mlpWidth],
    'mlp_norm.gamma': [mlpWidth],
    'mlp_norm.beta': [mlpWidth],
  };
  return Object.entries(blockKeys[layout]).map(([part, suffix]) => ({
    key: prefix + suffix,
    shape: shapes[part] ?? [width],
    canonical: [`vision.blocks.${layer}.${part}`],
    conversion: part.endsWith('.weight') ? 'transpose' : 'copy',
  }));
}

/** Lists every tensor of the EVA-02 vision tower in this layout, with its shape and canonical name. */
export function evaVisionLayout(config: EvaClipConfig, layout: EvaLayout): LayoutEntry[] {
  const v = config.vision;
  const prefix = evaVisionPrefix[layout];
  const positions = (v.imageSize / v.patchSize) ** 2 + 1;
  const norm = (key: string, canonical: string): LayoutEntry[] => [
    { key: `${prefix}${key}.weight`, shape: [v.width], canonical: [`${canonical}.gamma`], conversion: 'copy' },
    { key: `${prefix}${key}.bias`, shape: [v.width], canonical: [`${canonical}.beta`], conversion: 'copy' },
  ];
  return [
    { key: `${prefix}cls_token`, shape: [1, 1, v.width], canonical: ['vision.class_token'], conversion: 'copy' },
    { key: `${prefix}pos_embed`, shape: [1, positions, v.width], canonical: ['vision.position_embedding'], conversion: 'copy' },
    { key: `${prefix}patch_embed.proj.weight`, shape: [v.width, 3, v.patchSize, v.patchSize], canonical: ['vision.patch_embedding.weight'], conversion: 'conv' },
    { key: `${prefix}patch_embed.proj.bias`, shape: [v.width], canonical: ['vision.patch_embedding.bias'], conversion: 'copy' },
    ...Array.from({ length: v.layers }, (_, i) => blockEntries(config, layout, i)).flat(),
    ...norm('norm', 'vision.norm'),
    { key: `${prefix}head.weight`, shape: [config.embedDim, v.width], canonical: ['vision.head.weight'], conversion: 'transpose' },
    { key: `${prefix}head.bias`, shape: [config.embedDim], canonical: ['vision.head.bias'], conversion: 'copy' },
  ];
}

/** Lists every tensor of the text tower: OpenAI CLIP's keys, behind `textPrefix`. */
export function evaTextLayout(config: EvaClipConfig, textPrefix: EvaTextPrefix): LayoutEntry[] {
  // NOTE: clipTextLayout reads only `embedDim` and `text` of its ClipConfig argument, so the EVA-CLIP config
  // is passed without a CLIP vision tower. This cast breaks if clipTextLayout starts reading `vision`.
  const textOnly = { embedDim: config.embedDim, text: config.text } as unknown as ClipConfig;
  return clipTextLayout(textOnly, 'openai').map((entry) => ({ ...entry, key: textPrefix + entry.key }));
}

/** Lists every tensor of a whole EVA-CLIP checkpoint. The text prefix defaults to the one each layout's real checkpoints use. */
export function evaLayout(config: EvaClipConfig, layout: EvaLayout, textPrefix: EvaTextPrefix = layout === 'open-clip' ? 'text.' : ''): LayoutEntry[] {
  return [
    ...evaTextLayout(config, textPrefix),
    ...evaVisionLayout(config, layout),
    { key: 'logit_scale', shape: [], canonical: ['logit_scale'], conversion: 'copy' },
  ];
}

const ropeBufferPattern = /^visual\.(?:blocks\.(\d+)\.attn\.)?rope\.freqs_(?:cos|sin)$/;

/**
 * Tells whether a key is one of the rotary tables EVA-CLIP's state dicts carry: `visual.rope.freqs_cos` and
 * `freqs_sin`, and a copy of both under every block (`visual.blocks.N.attn.rope.*`), because every attention
 * module holds the shared rotary module. They are recomputed, and checked when present.
 */
export function isEvaRopeBufferKey(key: string, config: EvaClipConfig): boolean {
  const match = ropeBufferPattern.exec(key);
  if (match === null) return false;
  return match[1] === undefined || Number(match[1]) < config.vision.layers;
}

function take<T extends tf.Tensor>(canonical: ReadonlyMap<string, tf.Tensor>, name: string): T {
  const t = canonical.get(name);
  if (t === undefined) throw new Error(`internal: canonical tensor ${name} is missing`);
  return t as T;
}

function takeNorm(canonical: ReadonlyMap<string, tf.Tensor>, name: string, eps: number): LayerNormWeights {
  return { gamma: take(canonical, `${name}.gamma`), beta: take(canonical, `${name}.beta`), eps };
}

function takeLinear(canonical: ReadonlyMap<string, tf.Tensor>, name: string, hasBias = true): LinearWeights {
  const weight = take<tf.Tensor2D>(canonical, `${name}.weight`);
  return hasBias ? { weight, bias: take<tf.Tensor1D>(canonical, `${name}.bias`) } : { weight };
}

function takeBlock(canonical: ReadonlyMap<string, tf.Tensor>, layer: number, eps: number): EvaBlockWeights {
  const p = `vision.blocks.${layer}`;
  return {
    ln1: takeNorm(canonical, `${p}.ln1`, eps),
    q: takeLinear(canonical, `${p}.q`),
    k: takeLinear(canonical, `${p}.k`, false),
    v: takeLinear(canonical, `${p}.v`),
    attnNorm: takeNorm(canonical, `${p}.attn_norm`, eps),
    out: takeLinear(canonical, `${p}.out`),
    ln2: takeNorm(canonical, `${p}.ln2`, eps),
    mlpGate: takeLinear(canonical, `${p}.mlp_gate`),
    mlpIn: takeLinear(canonical, `${p}.mlp_in`),
    mlpNorm: takeNorm(canonical, `${p}.mlp_norm`, eps),
    mlpOut: takeLinear(canonical, `${p}.mlp_out`),
  };
}

/** All weights of an EVA-CLIP model. */
export interface EvaClipWeights {
  /** Text tower weights, laid out as in CLIP. */
  readonly text: ClipTextWeights;
  /** EVA-02 vision tower weights. */
  readonly vision: EvaVisionWeights;
  /** The learned log temperature; logits are exp(logitScale) × cosine similarity. */
  readonly logitScale: number;
}

/** Assembles EVA-CLIP weights from canonical tensors (named as {@link evaLayout} names them). */
export function evaWeightsFromCanonical(canonical: ReadonlyMap<string, tf.Tensor>, config: EvaClipConfig): EvaClipWeights {
  const eps = config.vision.layerNormEps;
  return {
    text: takeClipText(canonical, config.text),
    vision: {
      patchEmbedding: takeLinear(canonical, 'vision.patch_embedding'),
      classToken: take(canonical, 'vision.class_token'),
      positionEmbedding: take(canonical, 'vision.position_embedding'),
      blocks: Array.from({ length: config.vision.layers }, (_, i) => takeBlock(canonical, i, eps)),
      norm: takeNorm(canonical, 'vision.norm', eps),
      head: takeLinear(canonical, 'vision.head'),
    },
    logitScale: take<tf.Tensor>(canonical, 'logit_scale').dataSync()[0] as number,
  };
}
