import type { FeatureCache } from '../adapters/features.js';
import type { ModuleManifest, TrainingDefaults, TuningModule } from '../adapters/types.js';
import type { BackboneIdentity } from '../backbones/types.js';
import type { TrainingProgress } from '../training/types.js';

/** Method that moves a module to a new backbone without labels. */
export type MigrationMethod = 'bridge' | 'distill';

/** The migration methods, in the order the pipeline runs them. */
export const migrationMethods: readonly MigrationMethod[] = ['bridge', 'distill'];

/** Options of {@link migrateModule}. */
export interface MigrateOptions {
  /** `bridge` (output-feature modules only) or `distill` (every module kind). */
  readonly method: MigrationMethod;
  /** Most unlabeled images to use; a seeded sample is drawn from larger sources. Default: all of them. */
  readonly maxImages?: number;
  /** Seed of the image sample, of the student's initialization and of batch order. Default 0. */
  readonly seed?: number;
  /** Feature cache shared with an evaluation; a private one is used and freed when absent. */
  readonly features?: FeatureCache;
  /** Distill only: softmax temperature T of the KL loss. Default 2. */
  readonly temperature?: number;
  /** Distill only: overrides of the method's training defaults (epochs, learning rate, batch size, ...). */
  readonly training?: Partial<TrainingDefaults>;
  /** Distill only: called after every optimizer step. */
  readonly onProgress?: (event: TrainingProgress) => void;
}

/** Outcome of the bridge fit. */
export interface BridgeDetails {
  /** ‖T W − S‖²_F / ‖S‖²_F of the L2-normalized image features under the fitted map, 0..2. */
  readonly procrustesResidual: number;
  /** Factor applied after the map so that mapped target features have the source's typical norm. */
  readonly scale: number;
  /** Feature directions the unlabeled images did not determine. */
  readonly rankDeficiency: number;
}

/** Settings and outcome of a distillation run. */
export interface DistillDetails {
  /** Softmax temperature T of the KL loss. */
  readonly temperature: number;
  /** Epochs of the KL loop, or 0 when it did not run (a method with `fit` that does not train afterwards). */
  readonly epochs: number;
  /** Optimizer steps taken, counted across epochs. */
  readonly steps: number;
  /** Unlabeled images processed, counting repeats across epochs. */
  readonly examplesSeen: number;
  /** Mean KL loss (times T²) of the last epoch; NaN when no optimizer step ran. */
  readonly finalLoss: number;
  /** True when the method's `fit` ran on the source module's predicted classes (pseudo-labels) before or instead of the KL loop. */
  readonly pseudoLabelFit: boolean;
  /** Number of trainable scalars of the student module. */
  readonly trainableParameters: number;
}

/**
 * Provenance of a migrated module, stored as the manifest's `provenance`. It is a type alias rather than
 * an interface, so that it is a `Record<string, unknown>` as the manifest expects.
 */
export type MigrationProvenance = {
  /** Always `label-free-migration`, which distinguishes this provenance from other kinds. */
  readonly kind: 'label-free-migration';
  /** The migration method used. */
  readonly method: MigrationMethod;
  /** The migrated module's method and the backbone it was trained on. */
  readonly module: {
    /** Registry name of the migrated module's method. */
    readonly method: string;
    /** The backbone the module records as its training backbone. */
    readonly trainedOn: BackboneIdentity;
  };
  /** The source backbone passed to the migration. */
  readonly source: BackboneIdentity;
  /** The target backbone the module was moved to. */
  readonly target: BackboneIdentity;
  /** Unlabeled images used, after any `maxImages` sample. */
  readonly unlabeledImages: number;
  /** Always 0: no migration reads a label. */
  readonly labelsUsed: 0;
  /** Wall-clock time of the migration, seconds. */
  readonly seconds: number;
  /** ISO 8601 time the migration finished. */
  readonly createdAt: string;
  /** Outcome of the bridge fit, for the `bridge` method. */
  readonly bridge?: BridgeDetails;
  /** Settings and outcome of the distillation, for the `distill` method. */
  readonly distill?: DistillDetails;
};

/** A module migrated to the target backbone and its manifest, whose `provenance` is a {@link MigrationProvenance}. */
export interface MigrationResult {
  /** The module on the target backbone, owned by the caller, who disposes it. */
  readonly module: TuningModule;
  /** The manifest to save with the module. */
  readonly manifest: ModuleManifest & {
    /** Record of the migration: method, backbones, image count and time. */
    readonly provenance: MigrationProvenance;
  };
}

/** Reason a migration could not run. */
export type MigrationErrorCode = 'not-applicable' | 'invalid-options';

/** Raised when a migration cannot run: the method does not apply to the module, or an option is invalid. */
export class MigrationError extends Error {
  /** Error name: `MigrationError`. */
  override readonly name = 'MigrationError';
  constructor(
    /** `not-applicable` when the method cannot migrate the module, `invalid-options` for an invalid option. */
    readonly code: MigrationErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A label-free migration measured in an evaluation, or the reason it could not run. */
export interface MigrationRecord {
  /** The migration method. */
  readonly method: MigrationMethod;
  /** The condition that contains its predictions, such as `target-bridged`. */
  readonly condition: string;
  /** `not-applicable` when the method cannot migrate this module (the bridge and a prompt module). */
  readonly status: 'ok' | 'not-applicable';
  /** Reason the method did not apply. */
  readonly reason?: string;
  /** Wall-clock time of the migration, prediction excluded, seconds; 0 when it did not run. */
  readonly seconds: number;
  /** Unlabeled images the migration used. */
  readonly unlabeledImages: number;
  /** Always 0: migrations read no labels. */
  readonly labelsUsed: 0;
}

/** Name of the condition that contains each migration's predictions. */
export const migrationConditions: Readonly<Record<MigrationMethod, string>> = { bridge: 'target-bridged', distill: 'target-distilled' };
