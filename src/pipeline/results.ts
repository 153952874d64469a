import type { AttachmentDepth, ModuleKind } from '../adapters/types.js';
import type { BackboneDimensions, BackboneIdentity } from '../backbones/types.js';
import type { CompatibilityForecast } from '../forecast/types.js';
import type { DecisionExplanation, DecisionStep } from '../metrics/decision-explanation.js';
import type { MetricValue } from '../metrics/types.js';
import type { MigrationRecord } from '../migrate/types.js';
import type { TrainReport } from '../training/types.js';
import type { Mismatch } from './preflight.js';

/** Version of the results.json schema. Readers reject other versions. */
export const resultsSchemaVersion = 1;

/** A backbone as recorded in results. */
export interface BackboneRecord {
  /** Name, revision and weights hash. */
  readonly identity: BackboneIdentity;
  /** Sizes of the backbone. */
  readonly dims: BackboneDimensions;
}

/** Accuracy of one condition and its predictions, in test-set order. */
export interface ConditionResult {
  /** Share of test examples classified correctly, 0..1. */
  readonly accuracy: number;
  /** Predicted class per test example. */
  readonly predictions: readonly number[];
  /**
   * Wall time of predicting the test split, seconds. Features an earlier condition computed are reused from
   * the cell's cache, so target zero-shot plus target + transplanted is what predicting from scratch costs.
   */
  readonly seconds?: number;
}

/** Per-class change from source + module to target + transplanted. */
export interface ClassChange {
  /** The class name. */
  readonly className: string;
  /** Test examples of the class. */
  readonly support: number;
  /** Accuracy of source + module on the class, 0..1; NaN (null in JSON) without test examples. */
  readonly source: number;
  /** Accuracy of target + transplanted on the class, 0..1. */
  readonly transplanted: number;
  /** transplanted − source; negative when the class lost accuracy. */
  readonly change: number;
}

/**
 * The retrain-or-reuse decision for one cell, with its arithmetic. Reports render `explanation` and `steps` in
 * their language when `currency`, `explanation` and `steps` are all present, and show the stored English `reason`
 * and `arithmetic` otherwise. Results files written before vlm-compat stored those three fields lack them.
 */
export interface DecisionRecord {
  /** The chosen action. */
  readonly action: 'reuse' | 'retrain' | 'zero-shot' | 'migrate';
  /** One line saying why, in English. */
  readonly reason: string;
  /** The arithmetic behind the decision in English, one step per line. */
  readonly arithmetic: readonly string[];
  /** Currency label of every amount in `explanation` and `steps`, such as `$`. */
  readonly currency?: string;
  /** The rule that chose the action, with its numbers. `reason` is its English wording. */
  readonly explanation?: DecisionExplanation;
  /** The arithmetic as numbers, one step per line of `arithmetic`. */
  readonly steps?: readonly DecisionStep[];
}

/** Identifies a cell of the matrix. */
export interface CellKey {
  /** Registry name of the method. */
  readonly method: string;
  /** Name of the data set. */
  readonly dataset: string;
  /** Seed of the K-shot draw, initialization and training. */
  readonly seed: number;
  /** Training examples per class (K). */
  readonly shots: number;
}

/** The outcome of one cell: a method on a data set at one seed and shot count. */
export interface CellResult {
  /** Method, data set, seed and shots of the cell. */
  readonly key: CellKey;
  /** `ok`, `incompatible` (preflight mismatches) or `failed` (an error; the cell runs again on resume). */
  readonly status: 'ok' | 'incompatible' | 'failed';
  /** The method family. */
  readonly kind: ModuleKind;
  /** Attachment depth of the module. */
  readonly depth: AttachmentDepth;
  /** Class names, indexed by label. */
  readonly classNames: readonly string[];
  /** True class per test example. */
  readonly labels: readonly number[];
  /** Conditions by name: `source-module`, `target-zero-shot`, `target-transplanted`, `target-retrained`, and any extra. */
  readonly conditions: Readonly<Record<string, ConditionResult>>;
  /** Every computed metric. */
  readonly metrics: readonly MetricValue[];
  /** Classes sorted by change, worst first. */
  readonly perClass: readonly ClassChange[];
  /** Measured cost of training on the source and, when run, of retraining on the target. */
  readonly cost: {
    /** Training the module on the source. */
    readonly train: TrainReport;
    /** Retraining it on the target, when run. */
    readonly retrain?: TrainReport;
  };
  /** The retrain-or-reuse decision; absent for incompatible and failed cells. */
  readonly decision?: DecisionRecord;
  /** Preflight mismatches; a cell with any is `incompatible` and has no transplanted condition. */
  readonly mismatches: readonly Mismatch[];
  /** Error message of a failed cell. */
  readonly error?: string;
  /** The label-free forecast made before the transplanted evaluation, when unlabeled images were given. */
  readonly forecast?: CompatibilityForecast;
  /** Label-free migrations measured as extra conditions, when requested. */
  readonly migrations?: readonly MigrationRecord[];
}

/** The whole results.json: settings, backbones and every cell. */
export interface ResultsFile {
  /** Always `vlm-compat-results`. */
  readonly schema: 'vlm-compat-results';
  /** Schema version, {@link resultsSchemaVersion}. */
  readonly schemaVersion: typeof resultsSchemaVersion;
  /** vlm-compat version that wrote the file. */
  readonly libraryVersion: string;
  /** ISO 8601 time the file was written. */
  readonly createdAt: string;
  /** The source backbone. */
  readonly source: BackboneRecord;
  /** The target backbone. */
  readonly target: BackboneRecord;
  /** The settings used, as decoded from the config. */
  readonly settings: Readonly<Record<string, unknown>>;
  /** Every cell of the run (or of this shard). */
  readonly cells: readonly CellResult[];
}
