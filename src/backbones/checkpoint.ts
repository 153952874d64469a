import * as tf from '@tensorflow/tfjs-core';
import { toFloat32, type RawTensor } from '../io/safetensors.js';

/** The conversion from one checkpoint tensor to canonical tensors. */
export type Conversion =
  /** Same values, possibly a different but equal-sized shape (a scalar stored as [1], say). */
  | 'copy'
  /** A PyTorch Linear weight [out, in] becomes [in, out]. */
  | 'transpose'
  /** A patch convolution [width, 3, patch, patch] becomes a matrix [patch * patch * 3, width]. */
  | 'conv'
  /** A fused q/k/v projection [3 × width, width] or bias [3 × width] becomes three canonical tensors. */
  | 'split3';

/** One tensor of a checkpoint layout and the canonical tensor(s) it holds. */
export interface LayoutEntry {
  /** Tensor name in the checkpoint. */
  readonly key: string;
  /** Shape in the checkpoint. */
  readonly shape: readonly number[];
  /** Canonical names; three for `split3`, one otherwise. */
  readonly canonical: readonly string[];
  /** Conversion from the checkpoint tensor to the canonical tensor(s). */
  readonly conversion: Conversion;
}

/** One thing wrong with a checkpoint compared with the layout its config implies. */
export interface CheckpointProblem {
  /** `missing` from the checkpoint, `unexpected` in it, or present with the wrong `shape`. */
  readonly kind: 'missing' | 'unexpected' | 'shape';
  /** Tensor name in the checkpoint. */
  readonly key: string;
  /** Shape the layout expects; absent for an unexpected tensor. */
  readonly expected?: readonly number[];
  /** Shape found in the checkpoint; absent for a missing tensor. */
  readonly found?: readonly number[];
}

/** Raised when a checkpoint does not match the expected layout. Lists every problem, and nothing is loaded. */
export class CheckpointError extends Error {
  /** Error name: `CheckpointError`. */
  override readonly name = 'CheckpointError';
  constructor(
    /** Path or label of the checkpoint. */
    readonly source: string,
    /** Every problem found, in key order. */
    readonly problems: readonly CheckpointProblem[],
    hint: string,
  ) {
    const lines = problems.map((p) =>
      p.kind === 'missing'
        ? `  missing    ${p.key} (expected [${p.expected}])`
        : p.kind === 'unexpected'
          ? `  unexpected ${p.key} (found [${p.found}])`
          : `  shape      ${p.key}: expected [${p.expected}], found [${p.found}]`,
    );
    super(`${source} does not match the expected checkpoint layout (${problems.length} problem(s)):\n${lines.join('\n')}\n${hint}`);
  }
}

/** Compares checkpoint tensors with a layout: every missing, unexpected and mis-shaped key, in key order. */
export function compareWithLayout(
  tensors: ReadonlyMap<string, RawTensor>,
  entries: readonly LayoutEntry[],
  ignorable: (key: string) => boolean = () => false,
): CheckpointProblem[] {
  const problems: CheckpointProblem[] = [];
  const expected = new Map(entries.map((e) => [e.key, e]));
  for (const entry of entries) {
    const found = tensors.get(entry.key);
    if (found === undefined) problems.push({ kind: 'missing', key: entry.key, expected: entry.shape });
    else if (!sameShape(found.shape, entry.shape)) problems.push({ kind: 'shape', key: entry.key, expected: entry.shape, found: found.shape });
  }
  for (const [key, tensor] of tensors) {
    if (!expected.has(key) && !ignorable(key)) problems.push({ kind: 'unexpected', key, found: tensor.shape });
  }
  // Code-point order, so the listing does not depend on the locale.
  return problems.sort((a, b) => {
    if (a.key === b.key) return 0;
    return a.key < b.key ? -1 : 1;
  });
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Converts checkpoint tensors to canonical tensors. Call only after {@link compareWithLayout} found no problem. */
export function toCanonical(tensors: ReadonlyMap<string, RawTensor>, entries: readonly LayoutEntry[]): Map<string, tf.Tensor> {
  const canonical = new Map<string, tf.Tensor>();
  for (const entry of entries) {
    const raw = tensors.get(entry.key);
    if (raw === undefined) throw new Error(`internal: ${entry.key} vanished after the layout check`);
    const values = toFloat32(raw);
    tf.tidy(() => {
      const converted = convertIn(tf.tensor(values, [...entry.shape], 'float32'), entry.conversion);
      converted.forEach((t, i) => canonical.set(entry.canonical[i] as string, tf.keep(t)));
    });
  }
  return canonical;
}

function convertIn(t: tf.Tensor, conversion: Conversion): tf.Tensor[] {
  switch (conversion) {
    case 'copy':
      return [t];
    case 'transpose':
      return [tf.transpose(t)];
    case 'conv': {
      const [width, channels, patch] = t.shape as [number, number, number, number];
      // [width, 3, patch, patch] → [patch, patch, 3, width] → [patch * patch * 3, width]
      return [tf.reshape(tf.transpose(t, [2, 3, 1, 0]), [patch * patch * channels, width])];
    }
    case 'split3':
      return t.rank === 2 ? tf.split(t, 3, 0).map((part) => tf.transpose(part)) : tf.split(t, 3, 0);
  }
}

/** Converts canonical tensors back to a checkpoint layout: name → (shape, float32 values). */
export function fromCanonical(
  canonical: ReadonlyMap<string, tf.Tensor>,
  entries: readonly LayoutEntry[],
): Map<
  string,
  {
    /** Shape in the checkpoint. */
    shape: number[];
    /** Values in row-major order. */
    data: Float32Array;
  }
> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const entry of entries) {
    const parts = entry.canonical.map((name) => {
      const t = canonical.get(name);
      if (t === undefined) throw new Error(`cannot export ${entry.key}: canonical tensor ${name} is missing`);
      return t;
    });
    const data = tf.tidy(() => convertOut(parts, entry).dataSync() as Float32Array);
    out.set(entry.key, { shape: [...entry.shape], data: Float32Array.from(data) });
  }
  return out;
}

function convertOut(parts: tf.Tensor[], entry: LayoutEntry): tf.Tensor {
  const [first] = parts as [tf.Tensor];
  switch (entry.conversion) {
    case 'copy':
      return tf.reshape(first, [...entry.shape]);
    case 'transpose':
      return tf.transpose(first);
    case 'conv': {
      const [width, channels, patch] = entry.shape as [number, number, number, number];
      return tf.transpose(tf.reshape(first, [patch, patch, channels, width]), [3, 2, 0, 1]);
    }
    case 'split3':
      return first.rank === 2 ? tf.concat(parts.map((p) => tf.transpose(p)), 0) : tf.concat(parts, 0);
  }
}
