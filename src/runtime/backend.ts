import * as tf from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { getLogger, type Logger } from './logger.js';

/** A tensor backend that vlm-compat can run on, in order of preference. */
export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** Backends in the order they are tried when none is requested. */
export const backendPreference: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** The npm package that provides each backend. */
export const backendPackages: Readonly<Record<BackendName, string>> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

/** The outcome of backend selection: the backend in use and why each other candidate was skipped. */
export interface BackendSelection {
  /** The backend in use. */
  readonly name: BackendName;
  /** The tfjs registry name of the active backend (`tensorflow`, `wasm` or `cpu`). */
  readonly tfjsName: string;
  /** Backends tried before the active one, each with the reason it could not be loaded. */
  readonly skipped: ReadonlyArray<{
    /** The backend that was skipped. */
    readonly name: BackendName;
    /** The reason it could not be loaded, such as `not installed`. */
    readonly reason: string;
  }>;
}

/** Options for {@link initBackend}. */
export interface BackendOptions {
  /** Backend to use. Overrides `VLM_COMPAT_BACKEND`. Without either, the first that loads in {@link backendPreference}. */
  readonly backend?: BackendName;
  /** Logger that records the choice; the library-wide logger from `getLogger()` when absent. */
  readonly logger?: Logger;
}

/** Raised when a requested backend is unknown or its package is not installed. */
export class BackendUnavailableError extends Error {
  /** Error name: `BackendUnavailableError`. */
  override readonly name = 'BackendUnavailableError';
}

let active: BackendSelection | undefined;
let pending: Promise<BackendSelection> | undefined;

const requireHere = createRequire(import.meta.url);

function isBackendName(value: string): value is BackendName {
  return (backendPreference as readonly string[]).includes(value);
}

async function tryLoad(name: BackendName): Promise<string> {
  switch (name) {
    case 'tensorflow-gpu':
    case 'tensorflow': {
      // Both packages register a backend named "tensorflow" with the tfjs-core they resolve. A package
      // that resolves a different copy of tfjs-core would register it there, so the check below catches it.
      await import(/* @vite-ignore */ backendPackages[name]);
      if (tf.findBackend('tensorflow') === null) {
        throw new Error(`${backendPackages[name]} loaded but registered no "tensorflow" backend with this tfjs-core (two copies of @tensorflow/tfjs-core installed?)`);
      }
      return 'tensorflow';
    }
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      // In Node the .wasm binaries are read from the package folder, which is found through its package.json.
      const folder = join(dirname(requireHere.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';
      wasm.setWasmPaths(folder);
      return 'wasm';
    }
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      return 'cpu';
  }
}

function reasonOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  if (/Cannot find (module|package)|ERR_MODULE_NOT_FOUND|MODULE_NOT_FOUND/.test(text)) return 'not installed';
  return text.split('\n')[0] ?? text;
}

async function select(options: BackendOptions): Promise<BackendSelection> {
  const logger = options.logger ?? getLogger();
  const fromEnv = process.env.VLM_COMPAT_BACKEND;
  const requested = options.backend ?? (fromEnv === undefined || fromEnv === '' ? undefined : fromEnv);
  if (requested !== undefined && !isBackendName(requested)) {
    throw new BackendUnavailableError(
      `Unknown backend "${requested}". Valid backends: ${backendPreference.join(', ')}. Set it with the backend option or VLM_COMPAT_BACKEND.`,
    );
  }
  const candidates = requested === undefined ? backendPreference : [requested];
  const skipped: Array<{ name: BackendName; reason: string }> = [];

  for (const name of candidates) {
    try {
      const tfjsName = await tryLoad(name);
      const ready = await tf.setBackend(tfjsName);
      if (!ready) throw new Error(`tf.setBackend("${tfjsName}") failed to initialize`);
      await tf.ready();
      const selection = { name, tfjsName, skipped };
      const why = requested === undefined ? 'first available in preference order' : 'requested';
      logger.info(`tensor backend: ${name} (${why})`, { skipped });
      return selection;
    } catch (error) {
      const reason = reasonOf(error);
      if (requested !== undefined) {
        throw new BackendUnavailableError(
          `Backend "${name}" was requested but could not be loaded (${reason}). Install ${backendPackages[name]} or choose another backend.`,
        );
      }
      skipped.push({ name, reason });
      logger.debug(`tensor backend ${name} skipped: ${reason}`);
    }
  }
  throw new BackendUnavailableError(
    `No tensor backend could be loaded: ${skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}. Install @tensorflow/tfjs-backend-wasm.`,
  );
}

/**
 * Selects and initializes the tensor backend once per process. Later calls return the first selection;
 * a later call that requests a different backend is an error rather than a silent switch.
 */
export async function initBackend(options: BackendOptions = {}): Promise<BackendSelection> {
  if (active !== undefined) {
    if (options.backend !== undefined && options.backend !== active.name) {
      throw new BackendUnavailableError(
        `Backend "${active.name}" is already active, so "${options.backend}" cannot be selected. Choose the backend before any other vlm-compat call.`,
      );
    }
    return active;
  }
  pending ??= select(options).then(
    (selection) => (active = selection),
    (error: unknown) => {
      pending = undefined;
      throw error;
    },
  );
  return pending;
}

/** Returns the active backend selection, or undefined before {@link initBackend} has finished. */
export function activeBackend(): BackendSelection | undefined {
  return active;
}
