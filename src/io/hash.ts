import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** Raised when a file cannot be hashed: `not-found` for a missing file, `unreadable` for any other read failure. */
export class FileHashError extends Error {
  /** Error name: `FileHashError`. */
  override readonly name = 'FileHashError';

  constructor(
    /** `not-found` when the file does not exist, `unreadable` for any other read failure. */
    readonly code: 'not-found' | 'unreadable',
    /** The file that could not be hashed. */
    readonly path: string,
    message: string,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Computes the SHA-256 of a file as lowercase hex, reading it in chunks so that memory use stays small. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new FileHashError('not-found', path, `Cannot compute the SHA-256 of ${path}: file not found. Check the path.`, { cause: error });
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new FileHashError('unreadable', path, `Cannot compute the SHA-256 of ${path}: ${reason}. Check that it is a readable file.`, { cause: error });
  }
  return hash.digest('hex');
}

/** Computes the SHA-256 of a byte array as lowercase hex. */
export function sha256Bytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
