/** The three splits of a data set. */
export type SplitName = 'train' | 'val' | 'test';

/** One image that failed the up-front check of a data set's files. */
export interface ImageFileProblem {
  readonly split: SplitName;
  /** Position of the entry in its split. */
  readonly index: number;
  /** Absolute path of the image. */
  readonly path: string;
  readonly reason: 'missing' | 'not-a-file' | 'unreadable';
}

/** A problem found while opening or reading a data set, with the values involved. */
export type DatasetProblem =
  | { readonly code: 'folder-not-found'; readonly folder: string; readonly option: string }
  | { readonly code: 'split-file-not-found'; readonly file: string; readonly available: readonly string[] }
  | { readonly code: 'split-file-ambiguous'; readonly folder: string; readonly available: readonly string[] }
  | { readonly code: 'split-file-unreadable'; readonly file: string }
  | { readonly code: 'split-file-invalid'; readonly file: string; readonly detail: string }
  | { readonly code: 'invalid-entry'; readonly file: string; readonly split: SplitName; readonly index: number; readonly value: unknown }
  | { readonly code: 'path-outside-root'; readonly file: string; readonly split: SplitName; readonly index: number; readonly path: string }
  | { readonly code: 'label-conflict'; readonly label: number; readonly names: readonly [string, string] }
  /** `missing` lists at most the first 20 labels that have no example. */
  | { readonly code: 'labels-not-contiguous'; readonly missing: readonly number[]; readonly classes: number }
  | { readonly code: 'images-unavailable'; readonly files: readonly ImageFileProblem[] }
  | { readonly code: 'no-classes'; readonly folder: string }
  | { readonly code: 'class-folder-empty'; readonly folder: string; readonly classes: readonly string[] }
  | { readonly code: 'class-folders-differ'; readonly missing: readonly string[]; readonly extra: readonly string[] }
  | { readonly code: 'class-too-small'; readonly className: string; readonly images: number; readonly split: SplitName }
  | { readonly code: 'index-out-of-range'; readonly source: string; readonly index: number; readonly size: number }
  | { readonly code: 'image-load-failed'; readonly source: string; readonly index: number; readonly path: string }
  | { readonly code: 'invalid-option'; readonly option: string; readonly value: unknown };

/** Raised by the data set loaders and image sources. `problem` carries the values involved. */
export class DatasetError extends Error {
  override readonly name = 'DatasetError';

  constructor(
    readonly problem: DatasetProblem,
    message: string,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }

  /** The kind of problem. */
  get code(): DatasetProblem['code'] {
    return this.problem.code;
  }
}

/** Formats `value` as JSON for a message, cut to `limit` characters. */
export function quote(value: unknown, limit = 200): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > limit ? `${text.slice(0, limit)}...` : text;
}

/** Joins the first `limit` items as lines of a message and counts the rest. */
export function listLines(items: readonly string[], limit = 20): string {
  const lines = items.slice(0, limit).map((item) => `  ${item}`);
  if (items.length > limit) lines.push(`  ... and ${items.length - limit} more`);
  return lines.join('\n');
}
