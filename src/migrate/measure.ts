import type { FeatureCache } from '../adapters/features.js';
import type { TuningModule } from '../adapters/types.js';
import type { Backbone } from '../backbones/types.js';
import type { UnlabeledImages } from '../forecast/types.js';
import { predict } from '../training/predict.js';
import type { ImageSource } from '../training/types.js';
import { migrateModule, migrationRejection } from './migrate.js';
import { MigrationError, migrationConditions, migrationMethods, type MigrateOptions, type MigrationMethod, type MigrationRecord } from './types.js';

/** A migration measured on a test set: its record and, when it ran, its predictions. */
export interface MeasuredMigration {
  /** Record of the migration, or of the reason the method did not apply, as stored in results. */
  readonly record: MigrationRecord;
  /** Predicted class per test example; absent when the method did not apply. */
  readonly predictions?: Int32Array;
}

/** Throws a {@link MigrationError} unless every entry of `methods` is a migration method and none repeats. */
export function checkMigrationMethods(methods: readonly string[]): asserts methods is readonly MigrationMethod[] {
  for (const method of methods) {
    if (!(migrationMethods as readonly string[]).includes(method)) {
      throw new MigrationError('invalid-options', `Unknown migration method ${JSON.stringify(method)} in migrate; use ${migrationMethods.map((m) => `'${m}'`).join(' and/or ')}`);
    }
  }
  if (new Set(methods).size !== methods.length) throw new MigrationError('invalid-options', `migrate lists a method twice (${methods.join(', ')}); list each once`);
}

/**
 * Migrates `module` with each of `methods` and predicts `test` on the target with the result. A method
 * that does not apply to the module (the bridge and a prompt) is recorded as `not-applicable` and skipped.
 * Each migrated module is handed to `keep`, which owns it from then on (the caller frees it).
 */
export async function measureMigrations(
  module: TuningModule,
  source: Backbone,
  target: Backbone,
  unlabeled: UnlabeledImages,
  test: ImageSource,
  methods: readonly MigrationMethod[],
  options: Omit<MigrateOptions, 'method'> & { readonly features: FeatureCache },
  keep: (migrated: TuningModule) => void,
): Promise<MeasuredMigration[]> {
  checkMigrationMethods(methods);
  const measured: MeasuredMigration[] = [];
  for (const method of methods) {
    const condition = migrationConditions[method];
    const reason = migrationRejection(module, method);
    if (reason !== undefined) {
      measured.push({ record: { method, condition, status: 'not-applicable', reason, seconds: 0, unlabeledImages: 0, labelsUsed: 0 } });
      continue;
    }
    const result = await migrateModule(module, source, target, unlabeled, { ...options, method });
    keep(result.module);
    const { predictions } = await predict(result.module, target, options.features, test);
    const { seconds, unlabeledImages } = result.manifest.provenance;
    measured.push({ record: { method, condition, status: 'ok', seconds, unlabeledImages, labelsUsed: 0 }, predictions });
  }
  return measured;
}
