/**
 * Label-free migration of tuning modules to a new backbone: the bridge (an orthogonal map between the two
 * image feature spaces) and distillation (retraining on the source module's soft predictions). Importing
 * this module registers the `bridged` method, so saved bridged modules load with `loadModule`.
 */
import { getMethod, registerMethod } from '../adapters/registry.js';
import { bridgedMethod, bridgedMethodName } from './bridge.js';

export * from './types.js';
export { migrateModule, migrationRejection, saveMigratedModule, defaultDistillTemperature } from './migrate.js';
export { BridgedModule, bridgedMethod, bridgedMethodName, bridgeRejection, fitBridge, type BridgeFit, type BridgedConfig } from './bridge.js';
export { distillModule, distillationLoss, type DistillSettings } from './distill.js';
export { StoredPromptBackbone } from './stored-prompts.js';
export { measureMigrations, checkMigrationMethods, type MeasuredMigration } from './measure.js';

/** Registers the `bridged` method once; a second import of this module (another bundle copy) finds it registered. */
function registerBridged(): void {
  try {
    getMethod(bridgedMethodName);
  } catch {
    registerMethod(bridgedMethod);
  }
}

registerBridged();
