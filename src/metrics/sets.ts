import { PredictionSetsError } from './errors.js';
import type { PredictionSets } from './types.js';

/** Names of the standard conditions, as used in results and reports. */
export const standardConditions = ['source-module', 'target-zero-shot', 'target-transplanted', 'target-retrained'] as const;

/** A standard condition, or the name of an extra condition in `PredictionSets.extra`. */
export type ConditionName = (typeof standardConditions)[number] | (string & {});

/** Returns the predictions of `condition`, or undefined when that condition was not measured. */
export function conditionPredictions(sets: PredictionSets, condition: ConditionName): Int32Array | undefined {
  switch (condition) {
    case 'source-module':
      return sets.sourceModule;
    case 'target-zero-shot':
      return sets.targetZeroShot;
    case 'target-transplanted':
      return sets.targetTransplanted;
    case 'target-retrained':
      return sets.targetRetrained;
    default:
      return sets.extra?.[condition];
  }
}

/** Returns every measured condition with its predictions, the standard ones first. */
export function measuredConditions(sets: PredictionSets): [ConditionName, Int32Array][] {
  const measured: [ConditionName, Int32Array][] = [];
  for (const condition of standardConditions) {
    const predictions = conditionPredictions(sets, condition);
    if (predictions !== undefined) measured.push([condition, predictions]);
  }
  for (const [condition, predictions] of Object.entries(sets.extra ?? {})) measured.push([condition, predictions]);
  return measured;
}

/**
 * Throws a {@link PredictionSetsError} unless every condition has one prediction per label. This check is
 * cheap, so every built-in metric runs it. {@link validatePredictionSets} also checks the values.
 */
export function checkLengths(sets: PredictionSets): void {
  const expected = sets.labels.length;
  for (const [condition, predictions] of measuredConditions(sets)) {
    if (predictions.length !== expected) {
      throw new PredictionSetsError(
        'length-mismatch',
        `Condition ${condition} has ${predictions.length} predictions but there are ${expected} labels. ` +
          'Predict every condition on the same test set, in the same order.',
      );
    }
  }
}

/**
 * Throws a {@link PredictionSetsError} unless the sets are consistent: one prediction per label in every
 * condition, labels and predictions in [0, classNames.length), and no extra condition named like a standard one.
 */
export function validatePredictionSets(sets: PredictionSets): void {
  for (const condition of Object.keys(sets.extra ?? {})) {
    if ((standardConditions as readonly string[]).includes(condition)) {
      throw new PredictionSetsError(
        'reserved-condition-name',
        `Extra condition "${condition}" has the name of a standard condition. Rename it, for example to "${condition}-extra".`,
      );
    }
  }
  checkLengths(sets);

  const classes = sets.classNames.length;
  sets.labels.forEach((label, index) => {
    if (label < 0 || label >= classes) {
      throw new PredictionSetsError(
        'label-out-of-range',
        `Label ${label} of test example ${index} is outside [0, ${classes}) for ${classes} class names. ` +
          'Pass the class names the labels index into.',
      );
    }
  });
  for (const [condition, predictions] of measuredConditions(sets)) {
    const index = predictions.findIndex((prediction) => prediction < 0 || prediction >= classes);
    if (index >= 0) {
      throw new PredictionSetsError(
        'prediction-out-of-range',
        `Condition ${condition} predicts class ${predictions[index]} for test example ${index}, outside [0, ${classes}). ` +
          'Check that the condition was evaluated with the same class names.',
      );
    }
  }
}

/** Returns the sets restricted to test examples `indices`, in that order and with repeats, for every condition. */
export function selectExamples(sets: PredictionSets, indices: Int32Array): PredictionSets {
  const gather = (values: Int32Array): Int32Array => {
    const selected = new Int32Array(indices.length);
    for (let i = 0; i < indices.length; i++) selected[i] = values[indices[i] as number] as number;
    return selected;
  };
  const extra = sets.extra === undefined ? undefined : Object.fromEntries(Object.entries(sets.extra).map(([name, values]) => [name, gather(values)]));
  return {
    labels: gather(sets.labels),
    classNames: sets.classNames,
    sourceModule: gather(sets.sourceModule),
    targetZeroShot: gather(sets.targetZeroShot),
    targetTransplanted: gather(sets.targetTransplanted),
    ...(sets.targetRetrained === undefined ? {} : { targetRetrained: gather(sets.targetRetrained) }),
    ...(extra === undefined ? {} : { extra }),
  };
}
