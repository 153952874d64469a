import { validatePredictionSets } from './sets.js';
import type { PredictionSets } from './types.js';

/** Accuracy of one class before and after the transplant. Accuracies are fractions (0..1). */
export interface ClassAccuracyChange {
  /** The class name. */
  readonly className: string;
  /** Test examples of the class. */
  readonly support: number;
  /** Accuracy of source + module on the class, or NaN when the class has no test example. */
  readonly source: number;
  /** Accuracy of target + transplanted on the class, or NaN when the class has no test example. */
  readonly transplanted: number;
  /** transplanted − source, negative when the class lost accuracy in the transplant. */
  readonly change: number;
}

/**
 * Computes, for every class of `sets.classNames`, the accuracy of source + module and of target +
 * transplanted and their change. Rows are sorted worst first, so the classes that broke come first. Ties
 * keep class order, and classes without test examples (support 0, NaN accuracies) come last.
 * Throws a PredictionSetsError when the sets are inconsistent.
 */
export function perClassChange(sets: PredictionSets): ClassAccuracyChange[] {
  validatePredictionSets(sets);

  const classes = sets.classNames.length;
  const support = new Int32Array(classes);
  const sourceCorrect = new Int32Array(classes);
  const transplantedCorrect = new Int32Array(classes);
  const increment = (counts: Int32Array, c: number): void => {
    counts[c] = (counts[c] as number) + 1;
  };
  sets.labels.forEach((label, i) => {
    increment(support, label);
    if (sets.sourceModule[i] === label) increment(sourceCorrect, label);
    if (sets.targetTransplanted[i] === label) increment(transplantedCorrect, label);
  });

  const rows = sets.classNames.map((className, c): ClassAccuracyChange => {
    const count = support[c] as number;
    const source = count === 0 ? Number.NaN : (sourceCorrect[c] as number) / count;
    const transplanted = count === 0 ? Number.NaN : (transplantedCorrect[c] as number) / count;
    return { className, support: count, source, transplanted, change: transplanted - source };
  });

  // Array.prototype.sort is stable, so equal changes keep class order.
  return rows.sort((a, b) => {
    if (Number.isNaN(a.change) || Number.isNaN(b.change)) return Number(Number.isNaN(a.change)) - Number(Number.isNaN(b.change));
    return a.change - b.change;
  });
}
