import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadBackboneOptions } from './clip/load.js';
import { loadClipBackbone } from './clip/load.js';
import { loadEvaBackbone } from './eva/load.js';
import { backboneNames, registerBackbone } from './registry.js';
import type { Backbone } from './types.js';

/**
 * The bundled mini backbone pair, trained on emoji images by `npm run pretrain:mini`:
 * `mini-clip-v1` (CLIP, HuggingFace layout) is the source and `mini-clip-v2` (EVA-CLIP layout, text tower
 * started from v1's) the update. Both share one tokenizer and a 128-wide embedding space.
 */
export const miniBackboneNames = ['mini-clip-v1', 'mini-clip-v2'] as const;

/** Name of a bundled mini backbone. */
export type MiniBackboneName = (typeof miniBackboneNames)[number];

/**
 * Finds the package's `models/` folder by walking up from this file: from `dist/` in an installed package
 * and from `src/backbones/` in a clone.
 */
export function miniModelsFolder(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let folder = start;
  for (;;) {
    const candidate = join(folder, 'models', 'mini-clip-v1');
    if (existsSync(candidate)) return join(folder, 'models');
    const parent = dirname(folder);
    if (parent === folder) {
      throw new Error(
        `The bundled mini backbones were not found in a models/ folder above ${start}. Reinstall vlm-compat, or in a clone run npm run pretrain:mini to train them.`,
      );
    }
    folder = parent;
  }
}

/** Loads a bundled mini backbone through the same safetensors loaders as a downloaded checkpoint. */
export function loadMiniBackbone(name: MiniBackboneName, options: LoadBackboneOptions = {}): Promise<Backbone> {
  const folder = join(miniModelsFolder(), name);
  const named = { name, ...options };
  return name === 'mini-clip-v1' ? loadClipBackbone(folder, named) : loadEvaBackbone(folder, named);
}

/** Registers the mini pair with {@link loadBackbone}; calling it again does nothing. */
export function registerMiniBackbones(): void {
  const known = backboneNames();
  for (const name of miniBackboneNames) {
    if (!known.includes(name)) registerBackbone(name, (options) => loadMiniBackbone(name, options));
  }
}

registerMiniBackbones();
