import type { Mismatch } from './preflight.js';

/** Everything that can stop an evaluate-transfer run, as a tagged union. */
export type PipelineError =
  | {
      /** The config or a method's options are invalid. */
      readonly _tag: 'InvalidConfig';
      /** Description of the invalid field and value. */
      readonly message: string;
    }
  | {
      /** A backbone could not be loaded. */
      readonly _tag: 'BackboneLoadFailed';
      /** The backbone that failed: source or target. */
      readonly role: 'source' | 'target';
      /** The registered name or folder that was given. */
      readonly reference: string;
      /** The load error. */
      readonly message: string;
    }
  | {
      /** The module trained on the source does not fit the target (preflight found mismatches). */
      readonly _tag: 'IncompatibleModule';
      /** Registry name of the method. */
      readonly method: string;
      /** Every mismatch preflight found. */
      readonly mismatches: readonly Mismatch[];
      /** A one-line summary of the mismatches. */
      readonly message: string;
    }
  | {
      /** A data set could not be loaded or sampled. */
      readonly _tag: 'DatasetError';
      /** Name of the data set. */
      readonly dataset: string;
      /** The data set error. */
      readonly message: string;
    }
  | {
      /** The training loss became NaN or infinite. */
      readonly _tag: 'TrainingDiverged';
      /** Registry name of the method. */
      readonly method: string;
      /** The epoch, step, loss and learning rate at divergence. */
      readonly message: string;
    }
  | {
      /** A training or prediction step threw. */
      readonly _tag: 'EvaluationFailed';
      /** The step, such as `train-source` or `target + transplanted`. */
      readonly step: string;
      /** The error message of the step. */
      readonly message: string;
    }
  | {
      /** A file could not be read or written. */
      readonly _tag: 'IoError';
      /** The file involved. */
      readonly path: string;
      /** The file system error. */
      readonly message: string;
    };

/** Builds a PipelineError of the given tag from a caught exception. */
export function fromException<T extends PipelineError['_tag']>(tag: T, fields: Omit<Extract<PipelineError, { _tag: T }>, '_tag' | 'message'>) {
  return (error: unknown): PipelineError =>
    ({ _tag: tag, ...fields, message: error instanceof Error ? error.message : String(error) }) as unknown as PipelineError;
}

/** Formats a pipeline error as one or more lines for a person. */
export function describePipelineError(error: PipelineError): string {
  switch (error._tag) {
    case 'InvalidConfig':
      return `invalid config: ${error.message}`;
    case 'BackboneLoadFailed':
      return `could not load the ${error.role} backbone "${error.reference}": ${error.message}`;
    case 'IncompatibleModule':
      return `${error.method} cannot be transplanted:\n${error.mismatches.map((m) => `  - ${m.message}`).join('\n')}`;
    case 'DatasetError':
      return `data set ${error.dataset}: ${error.message}`;
    case 'TrainingDiverged':
      return `training ${error.method} failed: ${error.message}`;
    case 'EvaluationFailed':
      return `evaluation failed at ${error.step}: ${error.message}`;
    case 'IoError':
      return `${error.path}: ${error.message}`;
  }
}
