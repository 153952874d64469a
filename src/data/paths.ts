import { isAbsolute, posix, relative, resolve, win32 } from 'node:path';

/**
 * Returns why a relative image path from a split file is rejected, or undefined when it is accepted. Rejected:
 * empty paths, NUL characters, absolute paths (POSIX, Windows drive or UNC) and any `..` segment, with `/` and
 * `\` both counted as separators.
 *
 * NOTE: only the path string is checked. A symbolic link inside the image folder may point anywhere, and is
 * followed, because CoOp's setup instructions link image folders to existing copies of the data sets.
 */
export function unsafePathReason(path: string): string | undefined {
  if (path.length === 0) return 'it is empty';
  if (path.includes('\0')) return 'it contains a NUL character';
  if (posix.isAbsolute(path) || win32.isAbsolute(path) || /^[A-Za-z]:/.test(path)) return 'it is an absolute path';
  if (path.split(/[\\/]/).includes('..')) return 'it has a ".." segment';
  return undefined;
}

/** Joins an accepted relative path to `folder`. Returns undefined if the result would still leave `folder`. */
export function resolveInside(folder: string, path: string): string | undefined {
  const full = resolve(folder, path);
  const fromFolder = relative(folder, full);
  if (fromFolder === '' || fromFolder.startsWith('..') || isAbsolute(fromFolder)) return undefined;
  return full;
}
