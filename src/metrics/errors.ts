/** Kind of inconsistency found in a set of predictions. */
export type PredictionSetsProblem = 'length-mismatch' | 'label-out-of-range' | 'prediction-out-of-range' | 'reserved-condition-name';

/** Raised when prediction sets are inconsistent. The message names the condition, the lengths or the value involved. */
export class PredictionSetsError extends Error {
  /** Error name: `PredictionSetsError`. */
  override readonly name = 'PredictionSetsError';
  constructor(
    /** Kind of inconsistency, for programmatic handling. */
    readonly problem: PredictionSetsProblem,
    message: string,
  ) {
    super(message);
  }
}

/** Raised when an option of a metric or of metric computation is invalid. The message names the option and a valid value. */
export class MetricOptionsError extends Error {
  /** Error name: `MetricOptionsError`. */
  override readonly name = 'MetricOptionsError';
  constructor(
    /** The option at fault, such as `bootstrap.samples`. */
    readonly option: string,
    message: string,
  ) {
    super(message);
  }
}

/** Raised when an input of the retrain-or-reuse decision is invalid. The message names the field and a valid value. */
export class DecisionInputError extends Error {
  /** Error name: `DecisionInputError`. */
  override readonly name = 'DecisionInputError';
  constructor(
    /** The input field at fault, such as `prices.computePerHour`. */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}
