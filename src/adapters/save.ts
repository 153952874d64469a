import * as tf from '@tensorflow/tfjs-core';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readSafetensorsFile, toFloat32, writeSafetensorsFile, type TensorToWrite } from '../io/safetensors.js';
import { version } from '../version.js';
import { getMethod } from './registry.js';
import type { ModuleManifest, TuningModule } from './types.js';

/** File names inside a saved module folder. */
export const moduleFiles = {
  /** Parameters and buffers, with the manifest also in the metadata. */
  tensors: 'module.safetensors',
  /** The manifest as JSON. */
  manifest: 'manifest.json',
} as const;

/** Key of the manifest inside the safetensors metadata, so the weights file alone is enough to load a module. */
const manifestMetadataKey = 'vlm_compat_manifest';

/** Builds the manifest that describes a module. */
export function moduleManifest(module: TuningModule, provenance?: Record<string, unknown>): ModuleManifest {
  const tensors = [
    ...[...module.parameters()].map(([name, v]) => ({ name, shape: v.shape, role: 'parameter' as const })),
    ...[...module.buffers()].map(([name, b]) => ({ name, shape: b.shape, role: 'buffer' as const })),
  ];
  return {
    format: 'vlm-compat-module',
    formatVersion: 1,
    method: module.method,
    kind: module.kind,
    config: module.config,
    classNames: module.classNames,
    template: module.template,
    source: module.source,
    tensors,
    dtype: 'F32',
    libraryVersion: version,
    ...(provenance === undefined ? {} : { provenance }),
  };
}

/** Saves a module as a folder: `module.safetensors` (tensors, with the manifest in its metadata) and `manifest.json`. */
export async function saveModule(module: TuningModule, folder: string, provenance?: Record<string, unknown>): Promise<ModuleManifest> {
  const manifest = moduleManifest(module, provenance);
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, tensor] of [...module.parameters(), ...module.buffers()]) {
    if (name in tensors) throw new Error(`Module ${module.method} has a parameter and a buffer both named "${name}"; rename one`);
    tensors[name] = { dtype: 'F32', shape: tensor.shape, data: tensor.dataSync() as Float32Array };
  }
  await mkdir(folder, { recursive: true });
  await writeSafetensorsFile(join(folder, moduleFiles.tensors), tensors, { [manifestMetadataKey]: JSON.stringify(manifest) });
  await writeFile(join(folder, moduleFiles.manifest), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

function parseManifest(text: string, source: string): ModuleManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not valid JSON (${(error as Error).message}); save the module again`);
  }
  const manifest = value as Partial<ModuleManifest>;
  if (manifest.format !== 'vlm-compat-module' || manifest.formatVersion !== 1) {
    throw new Error(`${source} is not a vlm-compat module manifest (format ${JSON.stringify(manifest.format)}, version ${JSON.stringify(manifest.formatVersion)})`);
  }
  for (const field of ['method', 'kind', 'classNames', 'template', 'source', 'tensors'] as const) {
    if (manifest[field] === undefined) throw new Error(`${source} has no "${field}" field; save the module again`);
  }
  return manifest as ModuleManifest;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * Loads a module saved by {@link saveModule}. `path` is the module folder or its `module.safetensors`; the
 * manifest comes from `manifest.json` when present, else from the safetensors metadata.
 */
export async function loadModule(path: string): Promise<{
  /** The restored module; the caller owns it and disposes it. */
  module: TuningModule;
  /** The manifest it was saved with. */
  manifest: ModuleManifest;
}> {
  const isFile = path.endsWith('.safetensors');
  const folder = isFile ? join(path, '..') : path;
  const tensorsPath = isFile ? path : join(folder, moduleFiles.tensors);
  const file = await readSafetensorsFile(tensorsPath);

  const manifestPath = join(folder, moduleFiles.manifest);
  const embedded = file.metadata[manifestMetadataKey];
  let manifest: ModuleManifest;
  if (!isFile && (await exists(manifestPath))) manifest = parseManifest(await readFile(manifestPath, 'utf8'), manifestPath);
  else if (embedded !== undefined) manifest = parseManifest(embedded, `${tensorsPath} metadata`);
  else throw new Error(`${tensorsPath} has no embedded manifest and no ${moduleFiles.manifest} beside it; it was not saved by vlm-compat`);

  const problems: string[] = [];
  for (const entry of manifest.tensors) {
    const raw = file.tensors.get(entry.name);
    if (raw === undefined) problems.push(`missing ${entry.name}`);
    else if (raw.shape.join(',') !== entry.shape.join(',')) problems.push(`${entry.name}: manifest [${entry.shape}], file [${raw.shape}]`);
  }
  for (const name of file.tensors.keys()) if (!manifest.tensors.some((e) => e.name === name)) problems.push(`unexpected ${name}`);
  if (problems.length > 0) throw new Error(`${tensorsPath} does not match its manifest:\n  ${problems.join('\n  ')}`);

  const method = getMethod(manifest.method);
  const tensors = new Map<string, tf.Tensor>();
  for (const [name, raw] of file.tensors) tensors.set(name, tf.tensor(toFloat32(raw, { source: tensorsPath, tensorName: name }), [...raw.shape], 'float32'));
  return { module: method.restore(manifest, tensors), manifest };
}
