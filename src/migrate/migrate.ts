import { FeatureCache } from '../adapters/features.js';
import { moduleManifest, saveModule } from '../adapters/save.js';
import type { ModuleManifest, TuningModule } from '../adapters/types.js';
import type { Backbone } from '../backbones/types.js';
import type { UnlabeledImages } from '../forecast/types.js';
import { openUnlabeled } from '../forecast/unlabeled.js';
import { getLogger } from '../runtime/logger.js';
import { bridgeModule, bridgeRejection, fitBridge } from './bridge.js';
import { distillModule } from './distill.js';
import { MigrationError, migrationMethods, type BridgeDetails, type DistillDetails, type MigrateOptions, type MigrationProvenance, type MigrationResult } from './types.js';

/** Default softmax temperature of distillation. */
export const defaultDistillTemperature = 2;

function checkOptions(options: MigrateOptions): void {
  if (!migrationMethods.includes(options.method)) {
    throw new MigrationError('invalid-options', `Unknown migration method ${JSON.stringify(options.method)}; use one of ${migrationMethods.map((m) => `'${m}'`).join(', ')}`);
  }
  const temperature = options.temperature ?? defaultDistillTemperature;
  if (!(Number.isFinite(temperature) && temperature > 0)) {
    throw new MigrationError('invalid-options', `temperature = ${temperature} is invalid; give a positive number such as ${defaultDistillTemperature}`);
  }
  if (options.maxImages !== undefined && !(Number.isInteger(options.maxImages) && options.maxImages >= 2)) {
    throw new MigrationError('invalid-options', `maxImages = ${options.maxImages} is invalid; give an integer of at least 2, or leave it out to use every image`);
  }
}

/**
 * Returns why `method` cannot migrate `module`, or undefined when it can. Distillation applies to every
 * module; the bridge only to modules that read frozen output features.
 */
export function migrationRejection(module: TuningModule, method: MigrateOptions['method']): string | undefined {
  return method === 'bridge' ? bridgeRejection(module) : undefined;
}

/**
 * Migrates a module trained on `source` to `target` without labels, using only `unlabeledImages`:
 * - `bridge`: fits an orthogonal map from target to source image features and wraps the source module
 *   behind it, with the source's class prompt features stored inside, so the source backbone is not needed
 *   at inference (output-feature modules only: CLIP-Adapter, Tip-Adapter(-F), TaskRes, linear probe).
 * - `distill`: trains the same method afresh on the target to match the source module's soft predictions
 *   (every module kind).
 * The manifest's `provenance` records the method, both backbones, the image count, the time and that no
 * label was used; save the result with {@link saveMigratedModule} to keep it. `module` stays the caller's.
 * Throws a {@link MigrationError} when the method does not apply or an option is invalid.
 */
export async function migrateModule(module: TuningModule, source: Backbone, target: Backbone, unlabeledImages: UnlabeledImages, options: MigrateOptions): Promise<MigrationResult> {
  checkOptions(options);
  const rejection = migrationRejection(module, options.method);
  if (rejection !== undefined) throw new MigrationError('not-applicable', `cannot bridge: ${rejection}`);

  const started = performance.now();
  const seed = options.seed ?? 0;
  const images = openUnlabeled(unlabeledImages, source, target, {
    maxImages: options.maxImages ?? Number.MAX_SAFE_INTEGER,
    seed,
    purpose: `migrateModule (${options.method})`,
    minimum: 2,
  });
  const features = options.features ?? new FeatureCache();
  try {
    let migrated: TuningModule;
    let bridge: BridgeDetails | undefined;
    let distill: DistillDetails | undefined;
    if (options.method === 'bridge') {
      const fit = await fitBridge(source, target, images);
      try {
        migrated = bridgeModule(module, source, target, fit, features);
      } catch (error) {
        fit.map.dispose();
        throw error;
      }
      bridge = { procrustesResidual: fit.procrustesResidual, scale: fit.scale, rankDeficiency: fit.rankDeficiency };
    } else {
      const distilled = await distillModule(module, source, target, images, {
        temperature: options.temperature ?? defaultDistillTemperature,
        training: options.training ?? {},
        seed,
        features,
        ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      });
      migrated = distilled.module;
      distill = distilled.details;
    }

    const seconds = (performance.now() - started) / 1000;
    const provenance: MigrationProvenance = {
      kind: 'label-free-migration',
      method: options.method,
      module: { method: module.method, trainedOn: module.source.identity },
      source: source.identity,
      target: target.identity,
      unlabeledImages: images.count,
      labelsUsed: 0,
      seconds,
      createdAt: new Date().toISOString(),
      ...(bridge === undefined ? {} : { bridge }),
      ...(distill === undefined ? {} : { distill }),
    };
    getLogger().info(`migrated ${module.method} from ${source.identity.name} to ${target.identity.name} by ${options.method}`, { images: images.count, seconds });
    const manifest = moduleManifest(migrated, provenance) as ModuleManifest & { readonly provenance: MigrationProvenance };
    return { module: migrated, manifest };
  } finally {
    if (options.features === undefined) features.dispose();
  }
}

/** Saves a migrated module with its provenance (see {@link saveModule}); returns the written manifest. */
export async function saveMigratedModule(result: MigrationResult, folder: string): Promise<ModuleManifest> {
  return saveModule(result.module, folder, result.manifest.provenance);
}
