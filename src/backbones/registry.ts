import { access } from 'node:fs/promises';
import { unknownNameMessage } from '../runtime/names.js';
import type { Backbone } from './types.js';
import { loadClipBackbone, type LoadBackboneOptions } from './clip/load.js';
import { detectCheckpointFamily } from './eva/detect.js';
import { loadEvaBackbone } from './eva/load.js';

/** Loads a named backbone. */
export type BackboneFactory = (options: LoadBackboneOptions) => Promise<Backbone>;

const factories = new Map<string, BackboneFactory>();

/** Registers a backbone under a name. A name can be registered once; registering it again is an error. */
export function registerBackbone(name: string, factory: BackboneFactory): void {
  if (factories.has(name)) throw new Error(`Backbone "${name}" is already registered; pick another name`);
  factories.set(name, factory);
}

/** Lists the registered backbone names. */
export function backboneNames(): string[] {
  return [...factories.keys()].sort();
}

/**
 * Loads a backbone by registered name, or from a checkpoint folder when `nameOrFolder` is a path that
 * exists. A folder is loaded as EVA-CLIP when its safetensors header has EVA-CLIP keys, else as CLIP.
 * An unknown name lists the registered names and suggests the closest.
 */
export async function loadBackbone(nameOrFolder: string, options: LoadBackboneOptions = {}): Promise<Backbone> {
  const factory = factories.get(nameOrFolder);
  if (factory !== undefined) return factory(options);
  const isFolder = await access(nameOrFolder).then(
    () => true,
    () => false,
  );
  if (isFolder) {
    const family = await detectCheckpointFamily(nameOrFolder);
    return family === 'eva-clip' ? loadEvaBackbone(nameOrFolder, options) : loadClipBackbone(nameOrFolder, options);
  }
  throw new Error(`${unknownNameMessage('backbone', nameOrFolder, backboneNames())} Or give the path of a checkpoint folder.`);
}
