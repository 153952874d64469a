import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError, listLines, type ImageFileProblem, type SplitName } from './errors.js';

/** Files checked at once by {@link checkImageFiles}. */
const checkConcurrency = 64;

/**
 * Calls `task` on every item with at most `limit` calls running at once and returns the results in item order.
 * After a failure no new call starts, and the first error is raised.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T, position: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const position = next++;
      try {
        results[position] = await task(items[position] as T, position);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** An image file that a data set refers to. */
export interface ImageFileEntry {
  /** The split the image belongs to. */
  readonly split: SplitName;
  /** Position of the entry in its split. */
  readonly index: number;
  /** Absolute path of the image. */
  readonly path: string;
}

async function problemOf(entry: ImageFileEntry): Promise<ImageFileProblem | undefined> {
  try {
    const info = await stat(entry.path);
    if (!info.isFile()) return { ...entry, reason: 'not-a-file' };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ...entry, reason: code === 'ENOENT' || code === 'ENOTDIR' ? 'missing' : 'unreadable' };
  }
  try {
    await access(entry.path, constants.R_OK);
  } catch {
    return { ...entry, reason: 'unreadable' };
  }
  return undefined;
}

/**
 * Checks that every image exists, is a regular file and is readable, checking up to 64 files at once. Raises one
 * `images-unavailable` error that lists every failing image. `dataset` names the data set in the message.
 */
export async function checkImageFiles(entries: readonly ImageFileEntry[], dataset: string): Promise<void> {
  const found = await mapLimit(entries, checkConcurrency, problemOf);
  const problems = found.filter((problem): problem is ImageFileProblem => problem !== undefined);
  if (problems.length === 0) return;

  const lines = problems.map((p) => `${p.split}[${p.index}] ${p.path}: ${p.reason === 'not-a-file' ? 'not a regular file' : p.reason}`);
  throw new DatasetError(
    { code: 'images-unavailable', files: problems },
    `${problems.length} of ${entries.length} images of ${dataset} are missing or unreadable:\n${listLines(lines)}\n` +
      'Restore the files, or fix the paths in the split file or the image folder option.',
  );
}

/** Returns true when `path` is a directory, following symbolic links. */
export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Lists the names in `folder` whose entries satisfy `keep`, sorted by UTF-16 code units. Hidden names are skipped. */
export async function listFolder(folder: string, keep: (kind: 'file' | 'directory') => boolean): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    let kind: 'file' | 'directory' | undefined;
    if (entry.isFile()) kind = 'file';
    else if (entry.isDirectory()) kind = 'directory';
    else if (entry.isSymbolicLink()) {
      // A link counts as what it points to. A dangling link is left out, so it never reaches a split.
      const target = await stat(join(folder, entry.name)).catch(() => undefined);
      if (target?.isFile()) kind = 'file';
      else if (target?.isDirectory()) kind = 'directory';
    }
    if (kind !== undefined && keep(kind)) names.push(entry.name);
  }
  return names.sort();
}
