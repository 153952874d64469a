import type * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import { access, readFile, writeFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { readSafetensorsFile, writeSafetensorsFile, type SafetensorsFile, type TensorToWrite } from '../../io/safetensors.js';
import { sha256File } from '../../io/hash.js';
import { ptToSafetensorsCommand } from '../../io/convert.js';
import { decodeJsonFile } from '../../io/json.js';
import { getLogger, type Logger } from '../../runtime/logger.js';
import { CheckpointError, compareWithLayout, fromCanonical, toCanonical } from '../checkpoint.js';
import { loadClipTokenizer, type ClipTokenizer } from '../tokenizer.js';
import { openaiClipPreprocess, type PreprocessConfig } from '../preprocess.js';
import type { BackboneIdentity } from '../types.js';
import type { ClipConfig } from './config.js';
import {
  clipConfigFromHf,
  clipConfigToHf,
  clipConfigToOpenClip,
  HfClipConfigJson,
  inferOpenClipConfig,
  OpenClipConfigJson,
} from './infer.js';
import { clipLayout, isIgnorableClipKey, type ClipLayout } from './layouts.js';
import { ClipBackbone } from './model.js';

/** Options for loading a backbone from a folder. */
export interface LoadBackboneOptions {
  /** Name recorded in the identity. Defaults to the folder name. */
  readonly name?: string;
  /** Revision recorded in the identity. Defaults to the safetensors metadata `revision`, else `unknown`. */
  readonly revision?: string;
  /** Folder with the tokenizer files, if not the weights folder. */
  readonly tokenizerFolder?: string;
  /** Logger for the load steps; the library-wide logger from `getLogger()` when absent. */
  readonly logger?: Logger;
}

/** Weight file names tried in order: HuggingFace transformers, then open_clip on the HuggingFace Hub. */
export const clipWeightFiles = ['model.safetensors', 'open_clip_model.safetensors'] as const;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function readOptional(path: string): Promise<string | undefined> {
  return (await exists(path)) ? readFile(path, 'utf8') : undefined;
}

/** Finds the weights file of a checkpoint folder, with an error that lists the files looked for and shows how to convert a .pt file. */
export async function findWeightsFile(folder: string, names: readonly string[]): Promise<string> {
  for (const name of names) {
    const path = join(folder, name);
    if (await exists(path)) return path;
  }
  const hint = (await exists(folder)) ? '' : ' (the folder does not exist)';
  throw new Error(
    `No weights found in ${folder}${hint}: looked for ${names.join(', ')}. vlm-compat reads safetensors only; convert a PyTorch .pt file with ${ptToSafetensorsCommand}`,
  );
}

/** Tells the layout of a CLIP checkpoint from its keys. */
export function detectClipLayout(file: SafetensorsFile): ClipLayout {
  if (file.tensors.has('text_model.embeddings.token_embedding.weight')) return 'hf';
  if (file.tensors.has('visual.conv1.weight')) return 'openai';
  if (file.tensors.has('visual.patch_embed.proj.weight') || file.tensors.has('visual.trunk.patch_embed.proj.weight')) {
    throw new Error(`${file.source} looks like an EVA-CLIP checkpoint (it has an EVA patch embedding); load it with loadEvaBackbone or loadBackbone`);
  }
  const sample = [...file.tensors.keys()].slice(0, 5).join(', ');
  throw new Error(
    `${file.source} is neither a HuggingFace CLIPModel (no text_model.embeddings.token_embedding.weight) nor an OpenAI / open_clip CLIP checkpoint (no visual.conv1.weight); first keys: ${sample}`,
  );
}

const HfPreprocessorJson = t.partial({
  image_mean: t.array(t.number),
  image_std: t.array(t.number),
  resample: t.number,
  crop_size: t.union([t.number, t.partial({ height: t.number, width: t.number })]),
});

function triple(values: readonly number[] | undefined, fallback: readonly [number, number, number], file: string, field: string): [number, number, number] {
  if (values === undefined) return [...fallback];
  if (values.length !== 3) throw new Error(`${file}: ${field} must have 3 values (R, G, B), found ${values.length}`);
  return [values[0] as number, values[1] as number, values[2] as number];
}

/** Reads image preprocessing from preprocessor_config.json (HuggingFace) or open_clip_config.json, else OpenAI's. */
async function readPreprocess(folder: string, imageSize: number, openClip: OpenClipConfigJson | undefined): Promise<PreprocessConfig> {
  const defaults = openaiClipPreprocess(imageSize);
  const hfPath = join(folder, 'preprocessor_config.json');
  const hfText = await readOptional(hfPath);
  if (hfText !== undefined) {
    const json = decodeJsonFile(HfPreprocessorJson, hfText, hfPath);
    // PIL resample codes: 2 is bilinear, 3 is bicubic.
    const interpolation = json.resample === 2 ? 'bilinear' : 'bicubic';
    return { imageSize, mean: triple(json.image_mean, defaults.mean, hfPath, 'image_mean'), std: triple(json.image_std, defaults.std, hfPath, 'image_std'), interpolation };
  }
  const cfg = openClip?.preprocess_cfg;
  if (cfg !== undefined) {
    const interpolation = cfg.interpolation === 'bilinear' ? 'bilinear' : 'bicubic';
    return { imageSize, mean: triple(cfg.mean, defaults.mean, 'open_clip_config.json', 'mean'), std: triple(cfg.std, defaults.std, 'open_clip_config.json', 'std'), interpolation };
  }
  return defaults;
}

/**
 * Loads a CLIP backbone from a folder in either real layout: HuggingFace transformers (`model.safetensors`
 * with `config.json`) or OpenAI / open_clip (`open_clip_model.safetensors`, architecture inferred from
 * shapes, optional `open_clip_config.json`). Tokenizer files are read from the same folder.
 */
export async function loadClipBackbone(folder: string, options: LoadBackboneOptions = {}): Promise<ClipBackbone> {
  const logger = options.logger ?? getLogger();
  const weightsPath = await findWeightsFile(folder, clipWeightFiles);
  const file = await readSafetensorsFile(weightsPath);
  const layout = detectClipLayout(file);
  logger.info(`loading CLIP checkpoint ${weightsPath}`, { layout, tensors: file.tensors.size });

  let config: ClipConfig;
  let openClip: OpenClipConfigJson | undefined;
  if (layout === 'hf') {
    const configPath = join(folder, 'config.json');
    const text = await readOptional(configPath);
    if (text === undefined) throw new Error(`${configPath} is missing: a HuggingFace CLIPModel checkpoint needs its config.json next to model.safetensors`);
    config = clipConfigFromHf(decodeJsonFile(HfClipConfigJson, text, configPath));
  } else {
    const configPath = join(folder, 'open_clip_config.json');
    const text = await readOptional(configPath);
    openClip = text === undefined ? undefined : decodeJsonFile(OpenClipConfigJson, text, configPath);
    config = inferOpenClipConfig(file.tensors, weightsPath, openClip);
    if (text === undefined) logger.info('no open_clip_config.json: using QuickGELU and 64-wide attention heads, as OpenAI CLIP');
  }

  const tokenizer = await loadClipTokenizer(options.tokenizerFolder ?? folder);
  const preprocess = await readPreprocess(folder, config.vision.imageSize, openClip);
  const identity: BackboneIdentity = {
    family: 'clip',
    name: options.name ?? basename(folder),
    revision: options.revision ?? file.metadata.revision ?? 'unknown',
    weightsSha256: await sha256File(weightsPath),
  };
  return clipBackboneFromCheckpoint(file, layout, config, tokenizer, preprocess, identity);
}

/** Checks a parsed checkpoint against the layout its config implies and builds the backbone; never loads part of a checkpoint. */
export function clipBackboneFromCheckpoint(
  file: SafetensorsFile,
  layout: ClipLayout,
  config: ClipConfig,
  tokenizer: ClipTokenizer,
  preprocess: PreprocessConfig,
  identity: BackboneIdentity,
): ClipBackbone {
  const entries = clipLayout(config, layout);
  const problems = compareWithLayout(file.tensors, entries, (key) => isIgnorableClipKey(key, layout));
  if (problems.length > 0) {
    const hint =
      layout === 'hf'
        ? 'Check that config.json belongs to these weights.'
        : 'The architecture was inferred from tensor shapes; a checkpoint from another model family (EVA-CLIP, SigLIP) needs its own loader.';
    throw new CheckpointError(file.source, problems, hint);
  }
  if (tokenizer.vocabSize > config.text.vocabSize) {
    throw new Error(`the tokenizer has ${tokenizer.vocabSize} tokens but the text tower embeds only ${config.text.vocabSize}; use the tokenizer that ships with these weights`);
  }
  return new ClipBackbone(identity, config, toCanonical(file.tensors, entries), tokenizer, preprocess);
}

/** Saves canonical CLIP weights as a checkpoint folder in a real layout (weights plus config file), in F32, F16 or BF16. */
export async function saveClipCheckpoint(
  folder: string,
  config: ClipConfig,
  canonical: ReadonlyMap<string, tf.Tensor>,
  layout: ClipLayout,
  options: { dtype?: 'F32' | 'F16' | 'BF16'; metadata?: Record<string, string> } = {},
): Promise<string> {
  await mkdir(folder, { recursive: true });
  const tensors: Record<string, TensorToWrite> = {};
  for (const [key, value] of fromCanonical(canonical, clipLayout(config, layout))) {
    tensors[key] = { dtype: options.dtype ?? 'F32', shape: value.shape, data: value.data };
  }
  const weightsPath = join(folder, layout === 'hf' ? 'model.safetensors' : 'open_clip_model.safetensors');
  await writeSafetensorsFile(weightsPath, tensors, { format: 'pt', ...options.metadata });
  const configFile = layout === 'hf' ? 'config.json' : 'open_clip_config.json';
  const configJson = layout === 'hf' ? clipConfigToHf(config) : clipConfigToOpenClip(config);
  await writeFile(join(folder, configFile), JSON.stringify(configJson, null, 2) + '\n');
  return weightsPath;
}
