import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { maxHeaderBytes } from '../../io/safetensors.js';

/** Kind of checkpoint that a set of tensor names points to, with the name that identifies it. */
export interface CheckpointKind {
  /**
   * `clip`: OpenAI, open_clip or HuggingFace CLIP. `eva-clip`: EVA-CLIP or open_clip's timm EVA tower.
   * `timm-vision`: a timm EVA vision tower alone (timm's own `model.safetensors`), which has no text tower.
   */
  readonly family: 'clip' | 'eva-clip' | 'timm-vision';
  /** The tensor name that identified the family, such as `visual.conv1.weight`. */
  readonly evidence: string;
}

/** Keys that identify each kind of checkpoint, tried in order. */
const evidence: ReadonlyArray<readonly [CheckpointKind['family'], string]> = [
  ['eva-clip', 'visual.patch_embed.proj.weight'],
  ['eva-clip', 'visual.trunk.blocks.0.attn.q_proj.weight'],
  ['clip', 'visual.conv1.weight'],
  ['clip', 'text_model.embeddings.token_embedding.weight'],
  ['timm-vision', 'blocks.0.attn.q_proj.weight'],
];

/** Tells what kind of checkpoint a set of tensor names belongs to, or undefined when no identifying key is present. */
export function classifyCheckpointKeys(keys: { has(key: string): boolean }): CheckpointKind | undefined {
  for (const [family, key] of evidence) {
    if (keys.has(key)) return { family, evidence: key };
  }
  return undefined;
}

/** Reads the tensor names of a safetensors file from its header alone, or undefined when the header cannot be read. */
export async function readSafetensorsKeys(path: string): Promise<Set<string> | undefined> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (handle === undefined) return undefined;
  try {
    const prefix = Buffer.alloc(8);
    const { bytesRead } = await handle.read(prefix, 0, 8, 0);
    if (bytesRead < 8) return undefined;
    const length = prefix.readBigUInt64LE(0);
    if (length > BigInt(maxHeaderBytes)) return undefined;
    const header = Buffer.alloc(Number(length));
    const read = await handle.read(header, 0, header.length, 8);
    if (read.bytesRead < header.length) return undefined;
    const parsed: unknown = JSON.parse(header.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    return new Set(Object.keys(parsed).filter((key) => key !== '__metadata__'));
  } catch {
    // A malformed header is reported by the loader that parses the whole file; detection only reads what it can.
    return undefined;
  } finally {
    await handle.close();
  }
}

/** Weight file names the CLIP and EVA-CLIP loaders look for. */
const candidateWeightFiles = ['open_clip_model.safetensors', 'model.safetensors'] as const;

/**
 * Tells whether a checkpoint folder contains CLIP or EVA-CLIP weights by reading safetensors headers only.
 * Returns undefined when no weights file has an identifying key, so that the caller's loader reports the problem.
 */
export async function detectCheckpointFamily(folder: string): Promise<'clip' | 'eva-clip' | undefined> {
  for (const name of candidateWeightFiles) {
    const keys = await readSafetensorsKeys(join(folder, name));
    const kind = keys === undefined ? undefined : classifyCheckpointKeys(keys);
    if (kind === undefined) continue;
    // timm's vision-only file sits next to open_clip's full checkpoint on the Hub; the EVA-CLIP loader explains what to download.
    return kind.family === 'clip' ? 'clip' : 'eva-clip';
  }
  return undefined;
}
