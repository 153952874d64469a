import { ptToSafetensorsCommand } from '../../io/convert.js';
import type * as tf from '@tensorflow/tfjs-core';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { sha256File } from '../../io/hash.js';
import { decodeJsonFile } from '../../io/json.js';
import { readSafetensorsFile, toFloat32, writeSafetensorsFile, type SafetensorsFile, type TensorToWrite } from '../../io/safetensors.js';
import { getLogger } from '../../runtime/logger.js';
import { CheckpointError, compareWithLayout, fromCanonical, toCanonical, type CheckpointProblem } from '../checkpoint.js';
import type { LoadBackboneOptions } from '../clip/load.js';
import type { PreprocessConfig } from '../preprocess.js';
import { loadClipTokenizer, type ClipTokenizer } from '../tokenizer.js';
import type { BackboneIdentity } from '../types.js';
import type { EvaClipConfig } from './config.js';
import { classifyCheckpointKeys } from './detect.js';
import { evaConfigToOpenClip, evaPreprocess, EvaOpenClipConfigJson, inferEvaConfig } from './infer.js';
import { evaLayout, isEvaRopeBufferKey, type EvaLayout, type EvaTextPrefix } from './layouts.js';
import { EvaClipBackbone } from './model.js';
import { evaRopeTables, type RopeTables } from './rope.js';

/** Weight file names tried in order: open_clip's on the Hugging Face Hub (and the name the conversion command writes), then a plain `model.safetensors`. */
export const evaWeightFiles = ['open_clip_model.safetensors', 'model.safetensors'] as const;

/** Key layout of an EVA-CLIP checkpoint: the vision layout and the prefix of the text keys. */
export interface EvaCheckpointFormat {
  /** Key layout of the vision tower: EVA-CLIP's own state dict or open_clip's timm wrapping. */
  readonly layout: EvaLayout;
  /** Prefix of the text tower keys: none or `text.`. */
  readonly textPrefix: EvaTextPrefix;
}

/** Raised when a checkpoint belongs to another backbone family than the loader it was given to. */
export class WrongBackboneFamilyError extends Error {
  /** Error name: `WrongBackboneFamilyError`. */
  override readonly name = 'WrongBackboneFamilyError';
  constructor(
    /** The checkpoint file that was read. */
    readonly source: string,
    /** Kind of checkpoint the keys point to: CLIP, a timm vision tower without a text tower, or an unknown one. */
    readonly found: 'clip' | 'timm-vision' | 'unknown',
    message: string,
  ) {
    super(message);
  }
}

/** Raised when rotary tables stored in a checkpoint differ from the ones its config implies. Nothing is loaded. */
export class RopeTableError extends Error {
  /** Error name: `RopeTableError`. */
  override readonly name = 'RopeTableError';
  constructor(
    /** The checkpoint file that was read. */
    readonly source: string,
    /** Each mismatching key with its largest absolute difference. */
    readonly mismatches: ReadonlyArray<{
      /** Tensor name of the stored table, such as `visual.rope.freqs_cos`. */
      readonly key: string;
      /** Largest absolute difference between a stored and a recomputed entry. */
      readonly maxDifference: number;
    }>,
    message: string,
  ) {
    super(message);
  }
}

/** Tells the layout of an EVA-CLIP checkpoint from its keys, with a clear error for CLIP and vision-only checkpoints. */
export function detectEvaLayout(file: SafetensorsFile): EvaCheckpointFormat {
  const kind = classifyCheckpointKeys(file.tensors);
  if (kind?.family === 'clip') {
    throw new WrongBackboneFamilyError(
      file.source,
      'clip',
      `${file.source} looks like a CLIP checkpoint (it has ${kind.evidence}), not EVA-CLIP; load it with loadClipBackbone, or with loadBackbone(folder), which detects the family`,
    );
  }
  if (kind?.family === 'timm-vision') {
    throw new WrongBackboneFamilyError(
      file.source,
      'timm-vision',
      `${file.source} contains a timm EVA vision tower alone (${kind.evidence} at the top level) and no text tower; download open_clip_model.safetensors from the same Hugging Face Hub repository`,
    );
  }
  const textPrefix: EvaTextPrefix = file.tensors.has('text.token_embedding.weight') ? 'text.' : '';
  if (file.tensors.has('visual.patch_embed.proj.weight')) return { layout: 'eva-clip', textPrefix };
  if (file.tensors.has('visual.trunk.blocks.0.attn.q_proj.weight')) return { layout: 'open-clip', textPrefix };
  const sample = [...file.tensors.keys()].slice(0, 5).join(', ');
  throw new WrongBackboneFamilyError(
    file.source,
    'unknown',
    `${file.source} is neither an EVA-CLIP checkpoint (no visual.patch_embed.proj.weight) nor an open_clip EVA checkpoint (no visual.trunk.blocks.0.attn.q_proj.weight); first keys: ${sample}`,
  );
}

/** Largest difference accepted between stored and recomputed rotary tables, by storage dtype (about one rounding step). */
function ropeTolerance(dtype: string): number {
  if (dtype === 'F16') return 2e-3;
  if (dtype === 'BF16') return 1e-2;
  return 1e-4;
}

function byKey(a: CheckpointProblem, b: CheckpointProblem): number {
  if (a.key === b.key) return 0;
  return a.key < b.key ? -1 : 1;
}

/** Lists rotary-table keys whose shape is not [grid * grid, headWidth]. */
function ropeShapeProblems(file: SafetensorsFile, isRopeKey: (key: string) => boolean, tables: RopeTables): CheckpointProblem[] {
  const expected = [tables.rows, tables.headWidth];
  const problems: CheckpointProblem[] = [];
  for (const [key, raw] of file.tensors) {
    if (!isRopeKey(key)) continue;
    if (raw.shape.length !== 2 || raw.shape[0] !== expected[0] || raw.shape[1] !== expected[1]) {
      problems.push({ kind: 'shape', key, expected, found: raw.shape });
    }
  }
  return problems;
}

/** Compares every stored rotary table with the recomputed one and raises one error listing each mismatch. */
function checkRopeValues(file: SafetensorsFile, isRopeKey: (key: string) => boolean, tables: RopeTables, config: EvaClipConfig): void {
  const mismatches: Array<{ key: string; maxDifference: number; at: number }> = [];
  for (const [key, raw] of file.tensors) {
    if (!isRopeKey(key)) continue;
    const stored = toFloat32(raw, { source: file.source, tensorName: key });
    const expected = key.endsWith('cos') ? tables.cos : tables.sin;
    let maxDifference = 0;
    let at = 0;
    for (let i = 0; i < expected.length; i++) {
      const difference = Math.abs((stored[i] as number) - (expected[i] as number));
      if (!(difference <= maxDifference)) {
        maxDifference = difference;
        at = i;
      }
    }
    if (!(maxDifference <= ropeTolerance(raw.dtype))) mismatches.push({ key, maxDifference, at });
  }
  if (mismatches.length === 0) return;

  const v = config.vision;
  const grid = v.imageSize / v.patchSize;
  const lines = mismatches.map(({ key, maxDifference, at }) => {
    const patch = Math.floor(at / tables.headWidth);
    return `  ${key}: max difference ${maxDifference.toPrecision(3)} at patch row ${Math.floor(patch / grid)}, column ${patch % grid}, feature ${at % tables.headWidth}`;
  });
  throw new RopeTableError(
    file.source,
    mismatches.map(({ key, maxDifference }) => ({ key, maxDifference })),
    `${file.source} stores rotary tables that differ from the ones recomputed for a ${grid}×${grid} patch grid, head width ${tables.headWidth} ` +
      `and reference grid ${v.ropeReferenceGrid}:\n${lines.join('\n')}\n` +
      'If the model was trained with another pt_hw_seq_len or intp_freq, set them in vision_cfg of open_clip_config.json; otherwise the file is corrupt.',
  );
}

/**
 * Checks a parsed checkpoint against the layout its config implies and builds the backbone. Every missing,
 * unexpected or mis-shaped tensor is listed in one CheckpointError, stored rotary tables are checked
 * against recomputed ones, and nothing is loaded unless every check passes.
 */
export function evaBackboneFromCheckpoint(
  file: SafetensorsFile,
  format: EvaCheckpointFormat,
  config: EvaClipConfig,
  tokenizer: ClipTokenizer,
  preprocess: PreprocessConfig,
  identity: BackboneIdentity,
): EvaClipBackbone {
  const entries = evaLayout(config, format.layout, format.textPrefix);
  // Only EVA-CLIP's own state dicts carry rotary tables, because timm registers its rotary buffers as non-persistent.
  // NOTE: this is true of the timm source read (pos_embed_sincos.py); files written with older timm releases were not checked.
  const isRopeKey = (key: string) => format.layout === 'eva-clip' && isEvaRopeBufferKey(key, config);
  const tables = evaRopeTables(config.vision);

  const problems = [...compareWithLayout(file.tensors, entries, isRopeKey), ...ropeShapeProblems(file, isRopeKey, tables)];
  if (problems.length > 0) {
    problems.sort(byKey);
    throw new CheckpointError(
      file.source,
      problems,
      'The architecture was inferred from tensor shapes and open_clip_config.json. Only EVA-02 CLIP vision towers (RoPE, SwiGLU, sub-LN) are supported; ' +
        'an EVA-01 checkpoint (attn.qkv, mlp.fc1) or another model family needs its own loader.',
    );
  }
  checkRopeValues(file, isRopeKey, tables, config);
  if (tokenizer.vocabSize > config.text.vocabSize) {
    throw new Error(`the tokenizer has ${tokenizer.vocabSize} tokens but the text tower embeds only ${config.text.vocabSize}; use the tokenizer that ships with these weights`);
  }
  return new EvaClipBackbone(identity, config, toCanonical(file.tensors, entries), tokenizer, preprocess);
}

/**
 * Finds the weights file of an EVA-CLIP folder. The conversion command in the error clones every tensor,
 * because EVA-CLIP state dicts share one rotary table among all blocks and safetensors rejects shared memory.
 */
async function findEvaWeightsFile(folder: string): Promise<string> {
  for (const name of evaWeightFiles) {
    const path = join(folder, name);
    const found = await access(path).then(
      () => true,
      () => false,
    );
    if (found) return path;
  }
  const missingFolder = await access(folder).then(
    () => '',
    () => ' (the folder does not exist)',
  );
  throw new Error(
    `No weights found in ${folder}${missingFolder}: looked for ${evaWeightFiles.join(', ')}. vlm-compat reads safetensors only; convert an EVA-CLIP .pt file with ${ptToSafetensorsCommand}`,
  );
}

async function readOptional(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
}

/**
 * Loads an EVA-CLIP backbone from a folder: `open_clip_model.safetensors` (or `model.safetensors`) in the
 * EVA-CLIP or the open_clip layout, an optional `open_clip_config.json`, and the CLIP tokenizer files.
 * Without a config the architecture is inferred from tensor shapes, with 64-wide heads, GELU in the text
 * tower and a rotary reference grid of 16, as in EVA02-CLIP-B/16.
 */
export async function loadEvaBackbone(folder: string, options: LoadBackboneOptions = {}): Promise<EvaClipBackbone> {
  const logger = options.logger ?? getLogger();
  const weightsPath = await findEvaWeightsFile(folder);
  const file = await readSafetensorsFile(weightsPath);
  const format = detectEvaLayout(file);
  logger.info(`loading EVA-CLIP checkpoint ${weightsPath}`, { layout: format.layout, textPrefix: format.textPrefix, tensors: file.tensors.size });

  const configPath = join(folder, 'open_clip_config.json');
  const text = await readOptional(configPath);
  const json = text === undefined ? undefined : decodeJsonFile(EvaOpenClipConfigJson, text, configPath);
  if (json === undefined) logger.info('no open_clip_config.json: using 64-wide heads, GELU in the text tower and a rotary reference grid of 16, as EVA02-CLIP-B/16');
  const config = inferEvaConfig(file.tensors, weightsPath, format.layout, format.textPrefix, json, configPath);

  const tokenizer = await loadClipTokenizer(options.tokenizerFolder ?? folder);
  const preprocess = evaPreprocess(config.vision.imageSize, json, configPath);
  const identity: BackboneIdentity = {
    family: 'eva-clip',
    name: options.name ?? basename(folder),
    revision: options.revision ?? file.metadata.revision ?? 'unknown',
    weightsSha256: await sha256File(weightsPath),
  };
  return evaBackboneFromCheckpoint(file, format, config, tokenizer, preprocess, identity);
}

/** Options of {@link saveEvaCheckpoint}. */
export interface SaveEvaCheckpointOptions {
  /** Storage dtype of every tensor, the rotary tables included. Default `F32`. */
  readonly dtype?: 'F32' | 'F16' | 'BF16';
  /**
   * Entries of the safetensors header's `__metadata__`, besides `format: pt`, which they may replace. A `revision`
   * entry becomes the backbone revision that {@link loadEvaBackbone} records.
   */
  readonly metadata?: Record<string, string>;
  /** Prefix of the text keys; defaults to none for `eva-clip` and `text.` for `open-clip`, as the real checkpoints have them. */
  readonly textPrefix?: EvaTextPrefix;
  /** Whether an `eva-clip` checkpoint stores `visual.rope.freqs_cos` and `freqs_sin`, as EVA-CLIP's state dicts do. Defaults to true. */
  readonly ropeTables?: boolean;
  /** Preprocessing written to `preprocess_cfg`; defaults to OpenAI CLIP's. */
  readonly preprocess?: PreprocessConfig;
}

/**
 * Saves canonical EVA-CLIP weights as a checkpoint folder: `open_clip_model.safetensors` in a real layout
 * and `open_clip_config.json`. Tokenizer files are not written. Returns the weights path.
 */
export async function saveEvaCheckpoint(
  folder: string,
  config: EvaClipConfig,
  canonical: ReadonlyMap<string, tf.Tensor>,
  layout: EvaLayout,
  options: SaveEvaCheckpointOptions = {},
): Promise<string> {
  await mkdir(folder, { recursive: true });
  const dtype = options.dtype ?? 'F32';
  const tensors: Record<string, TensorToWrite> = {};
  const textPrefix = options.textPrefix ?? (layout === 'open-clip' ? 'text.' : '');
  for (const [key, value] of fromCanonical(canonical, evaLayout(config, layout, textPrefix))) {
    tensors[key] = { dtype, shape: value.shape, data: value.data };
  }
  if (layout === 'eva-clip' && options.ropeTables !== false) {
    const tables = evaRopeTables(config.vision);
    const shape = [tables.rows, tables.headWidth];
    tensors['visual.rope.freqs_cos'] = { dtype, shape, data: tables.cos };
    tensors['visual.rope.freqs_sin'] = { dtype, shape, data: tables.sin };
  }

  const weightsPath = join(folder, 'open_clip_model.safetensors');
  await writeSafetensorsFile(weightsPath, tensors, { format: 'pt', ...options.metadata });
  const json = evaConfigToOpenClip(config, textPrefix, options.preprocess);
  await writeFile(join(folder, 'open_clip_config.json'), JSON.stringify(json, null, 2) + '\n');
  return weightsPath;
}
