import { isLeft } from 'fp-ts/lib/Either.js';
import type * as t from 'io-ts';
import { PathReporter } from 'io-ts/lib/PathReporter.js';

/** Raised when a config file is not valid; the message names the file, the field path and the bad value. */
export class ConfigFileError extends Error {
  /** Error name: `ConfigFileError`. */
  override readonly name = 'ConfigFileError';
}

/** Decodes JSON text with an io-ts codec, naming the file and each invalid field in the error. */
export function decodeJsonFile<A>(codec: t.Type<A, unknown>, text: string, file: string): A {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(`${file} is not valid JSON (${(error as Error).message}); re-download or fix the file`);
  }
  const decoded = codec.decode(value);
  if (isLeft(decoded)) {
    throw new ConfigFileError(`${file} has invalid fields:\n  ${PathReporter.report(decoded).join('\n  ')}`);
  }
  return decoded.right;
}
