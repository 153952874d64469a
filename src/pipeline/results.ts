import type { AttachmentDepth, ModuleKind } from '../adapters/types.js';
import type { BackboneDimensions, BackboneIdentity } from '../backbones/types.js';
import type { MetricValue } from '../metrics/types.js';
import type { TrainReport } from '../training/types.js';
import type { Mismatch } from './preflight.js';

/** Version of the results.json schema. Readers reject other versions. */
export const resultsSchemaVersion = 1;

/** A backbone as recorded in results. */
export interface BackboneRecord {
  readonly identity: BackboneIdentity;
  readonly dims: BackboneDimensions;
}

/** Accuracy of one condition and its predictions, in test-set order. */
export interface ConditionResult {
  /** Share of test examples classified correctly, 0..1. */
  readonly accuracy: number;
  readonly predictions: readonly number[];
}

/** Per-class change from source + module to target + transplanted. */
export interface ClassChange {
  readonly className: string;
  /** Test examples of the class. */
  readonly support: number;
  readonly source: number;
  readonly transplanted: number;
  readonly change: number;
}

/** The retrain-or-reuse decision for one cell, with its arithmetic. */
export interface DecisionRecord {
  readonly action: 'reuse' | 'retrain' | 'zero-shot' | 'migrate';
  /** One line saying why. */
  readonly reason: string;
  /** The arithmetic behind the decision, one step per line. */
  readonly arithmetic: readonly string[];
}

/** Identifies a cell of the matrix. */
export interface CellKey {
  readonly method: string;
  readonly dataset: string;
  readonly seed: number;
  readonly shots: number;
}

/** The outcome of one cell: a method on a data set at one seed and shot count. */
export interface CellResult {
  readonly key: CellKey;
  readonly status: 'ok' | 'incompatible' | 'failed';
  readonly kind: ModuleKind;
  readonly depth: AttachmentDepth;
  readonly classNames: readonly string[];
  /** True class per test example. */
  readonly labels: readonly number[];
  /** Conditions by name: `source-module`, `target-zero-shot`, `target-transplanted`, `target-retrained`, and any extra. */
  readonly conditions: Readonly<Record<string, ConditionResult>>;
  readonly metrics: readonly MetricValue[];
  /** Classes sorted by change, worst first. */
  readonly perClass: readonly ClassChange[];
  /** Measured cost of training on the source and, when run, of retraining on the target. */
  readonly cost: { readonly train: TrainReport; readonly retrain?: TrainReport };
  readonly decision?: DecisionRecord;
  /** Preflight mismatches; a cell with any is `incompatible` and has no transplanted condition. */
  readonly mismatches: readonly Mismatch[];
  /** Error message of a failed cell. */
  readonly error?: string;
}

/** The whole results.json: settings, backbones and every cell. */
export interface ResultsFile {
  readonly schema: 'vlm-compat-results';
  readonly schemaVersion: typeof resultsSchemaVersion;
  readonly libraryVersion: string;
  /** ISO 8601 time the file was written. */
  readonly createdAt: string;
  readonly source: BackboneRecord;
  readonly target: BackboneRecord;
  /** The settings used, as decoded from the config. */
  readonly settings: Readonly<Record<string, unknown>>;
  readonly cells: readonly CellResult[];
}
