import type { Mismatch } from './preflight.js';

/** Everything that can stop an evaluate-transfer run, as a tagged union. */
export type PipelineError =
  | { readonly _tag: 'InvalidConfig'; readonly message: string }
  | { readonly _tag: 'BackboneLoadFailed'; readonly role: 'source' | 'target'; readonly reference: string; readonly message: string }
  | { readonly _tag: 'IncompatibleModule'; readonly method: string; readonly mismatches: readonly Mismatch[]; readonly message: string }
  | { readonly _tag: 'DatasetError'; readonly dataset: string; readonly message: string }
  | { readonly _tag: 'TrainingDiverged'; readonly method: string; readonly message: string }
  | { readonly _tag: 'EvaluationFailed'; readonly step: string; readonly message: string }
  | { readonly _tag: 'IoError'; readonly path: string; readonly message: string };

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
