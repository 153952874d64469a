import { accuracyMetric } from './builtins.js';
import { resolvePrices, validateCostRecord, type CostRecord, type LabelFreeCost, type Prices, type RetrainCost } from './cost.js';
import {
  formatReasonInEnglish,
  formatStepInEnglish,
  type DecisionExplanation,
  type DecisionStep,
  type LabelFreeCostStep,
  type RetrainCostStep,
} from './decision-explanation.js';
import { DecisionInputError } from './errors.js';
import { validatePredictionSets } from './sets.js';
import type { PredictionSets } from './types.js';

/** Action to take with a module when the backbone is updated. */
export type DecisionAction =
  /** Transplant the module as is. */
  | 'reuse'
  /** Train the module afresh on the target backbone. */
  | 'retrain'
  /** Drop the module and use the target backbone zero-shot. */
  | 'zero-shot'
  /** Migrate the module without labels, when such a migration was measured. */
  | 'migrate';

/**
 * The lowest accuracy an option may have to be chosen, in accuracy points (0..100).
 * - `min-accuracy`: accuracy ≥ `points`.
 * - `max-drop`: accuracy ≥ accuracy(`relativeTo`) − `points`, where `relativeTo` is source + module (what
 *   users had before the update) or the module retrained on the target (the best known on the target).
 */
export type Tolerance =
  | {
      /** An absolute minimum accuracy. */
      readonly kind: 'min-accuracy';
      /** The minimum, in accuracy points (0..100). */
      readonly points: number;
    }
  | {
      /** A maximum drop below a reference accuracy. */
      readonly kind: 'max-drop';
      /** The largest acceptable drop, in accuracy points. */
      readonly points: number;
      /** The reference: source + module, or the module retrained on the target. */
      readonly relativeTo: 'source-module' | 'target-retrained';
    };

/** Accuracy of each condition on the test set, as fractions (0..1). */
export interface DecisionAccuracies {
  /** Source backbone with the module. */
  readonly sourceModule: number;
  /** Target backbone zero-shot. */
  readonly targetZeroShot: number;
  /** Target backbone with the transplanted module. */
  readonly targetTransplanted: number;
  /** Absent when retraining on the target was not measured. */
  readonly targetRetrained?: number;
  /** Absent when no label-free migration was measured. */
  readonly targetMigrated?: number;
}

/** Input of {@link decide}. */
export interface DecisionInput {
  /** Accuracy of each condition. */
  readonly accuracy: DecisionAccuracies;
  /** Measured cost of each option. */
  readonly cost: CostRecord;
  /** Prices left out are 0 (see `defaultPrices`). */
  readonly prices?: Partial<Prices>;
  /** Without a tolerance, every option is admissible. */
  readonly tolerance?: Tolerance;
  /**
   * Names the label-free migration whose accuracy is `accuracy.targetMigrated`, which should be the most accurate one
   * measured, because the arithmetic calls it so. The arithmetic then starts with a line naming it, and a reason for
   * `migrate` adds that it needs no labels.
   */
  readonly migration?: MigrationName;
}

/** The label-free migration weighed as `migrate`, as the arithmetic names it. */
export interface MigrationName {
  /** Migration method, such as `bridge` or `distill`. */
  readonly method: string;
  /** Condition that contains the migration's predictions, such as `target-bridged`. */
  readonly condition: string;
}

/** One option as the decision weighed it. */
export interface OptionAssessment {
  /** The option. */
  readonly action: DecisionAction;
  /** Expected accuracy, fraction (0..1). */
  readonly accuracy: number;
  /** Cost in the currency of the prices. */
  readonly cost: number;
  /** accuracy in points × price per point − cost. */
  readonly value: number;
  /** Whether the accuracy meets the tolerance. */
  readonly admissible: boolean;
}

/** The retrain-or-reuse decision for one module, with the arithmetic behind it. */
export interface Decision {
  /** The chosen action. */
  readonly action: DecisionAction;
  /** One line saying why, in English: {@link formatReasonInEnglish} of `explanation`. */
  readonly reason: string;
  /** The arithmetic in English, one step per line: {@link formatStepInEnglish} of each of `steps`. */
  readonly arithmetic: readonly string[];
  /** The rule that chose the action, with its numbers, for rendering the reason in any language. */
  readonly explanation: DecisionExplanation;
  /** The arithmetic as numbers, one step per line of `arithmetic`, with every number that went into the decision. */
  readonly steps: readonly DecisionStep[];
  /** Every option that was weighed, in the order reuse, zero-shot, retrain, migrate. */
  readonly options: readonly OptionAssessment[];
  /** Lowest admissible accuracy as a fraction, absent without a tolerance. */
  readonly accuracyFloor?: number;
  /** False when retraining was not measured, so that only the other options were weighed. */
  readonly retrainMeasured: boolean;
  /** False when no option met the tolerance and the most accurate one was chosen instead. */
  readonly meetsTolerance: boolean;
  /** Currency label of every amount, from the prices. */
  readonly currency: string;
}

/**
 * Returns the accuracy of each condition of `sets`, ready for {@link decide}. `migratedCondition` names the
 * extra condition that contains the predictions of a label-free migration, if any.
 */
export function conditionAccuracies(sets: PredictionSets, migratedCondition?: string): DecisionAccuracies {
  validatePredictionSets(sets);
  const optional = (condition: string): number | undefined => {
    const value = accuracyMetric(condition).compute(sets);
    return Number.isNaN(value) ? undefined : value;
  };
  const retrained = optional('target-retrained');
  const migrated = migratedCondition === undefined ? undefined : optional(migratedCondition);
  return {
    sourceModule: accuracyMetric('source-module').compute(sets),
    targetZeroShot: accuracyMetric('target-zero-shot').compute(sets),
    targetTransplanted: accuracyMetric('target-transplanted').compute(sets),
    ...(retrained === undefined ? {} : { targetRetrained: retrained }),
    ...(migrated === undefined ? {} : { targetMigrated: migrated }),
  };
}

/** Slack for comparing an accuracy with the tolerance floor, so that an accuracy exactly at the floor passes despite rounding. */
const comparisonSlack = 1e-12;

function checkAccuracy(field: string, value: number | undefined, required: boolean): void {
  if (value === undefined && !required) return;
  if (value === undefined || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new DecisionInputError(
      `accuracy.${field}`,
      `accuracy.${field} is ${String(value)}, but it must be a fraction in [0, 1]. A NaN accuracy comes from an empty test set; evaluate on a non-empty one.`,
    );
  }
}

function checkInput(input: DecisionInput): void {
  const { accuracy, cost, tolerance } = input;
  checkAccuracy('sourceModule', accuracy.sourceModule, true);
  checkAccuracy('targetZeroShot', accuracy.targetZeroShot, true);
  checkAccuracy('targetTransplanted', accuracy.targetTransplanted, true);
  checkAccuracy('targetRetrained', accuracy.targetRetrained, false);
  checkAccuracy('targetMigrated', accuracy.targetMigrated, false);
  validateCostRecord(cost);

  if (accuracy.targetRetrained !== undefined && cost.retrain === undefined) {
    throw new DecisionInputError('cost.retrain', 'The retrained accuracy is given but its cost is not. Pass cost.retrain, for example from createCostRecord.');
  }
  if ((accuracy.targetMigrated === undefined) !== (cost.migration === undefined)) {
    throw new DecisionInputError(
      accuracy.targetMigrated === undefined ? 'accuracy.targetMigrated' : 'cost.migration',
      'A label-free migration needs both its accuracy (accuracy.targetMigrated) and its cost (cost.migration). Pass both or neither.',
    );
  }
  if (input.migration !== undefined && accuracy.targetMigrated === undefined) {
    throw new DecisionInputError(
      'migration',
      `migration names ${input.migration.method} (${input.migration.condition}), but no migration was measured. Pass accuracy.targetMigrated and cost.migration, or leave migration out.`,
    );
  }

  if (tolerance === undefined) return;
  const limit = tolerance.kind === 'min-accuracy' ? 100 : Number.POSITIVE_INFINITY;
  if (!Number.isFinite(tolerance.points) || tolerance.points < 0 || tolerance.points > limit) {
    throw new DecisionInputError(
      'tolerance.points',
      `tolerance.points is ${tolerance.points}, but it must be a number of accuracy points${tolerance.kind === 'min-accuracy' ? ' in [0, 100]' : ' ≥ 0'}.`,
    );
  }
  if (tolerance.kind === 'max-drop' && tolerance.relativeTo === 'target-retrained' && accuracy.targetRetrained === undefined) {
    throw new DecisionInputError(
      'tolerance.relativeTo',
      "The tolerance is relative to the retrained module, but retraining was not measured. Measure retraining or set relativeTo: 'source-module'.",
    );
  }
}

/** Returns the lowest admissible accuracy (fraction) and the step that shows how it was computed. */
function toleranceStep(tolerance: Tolerance | undefined, accuracy: DecisionAccuracies): { floor?: number; step: DecisionStep } {
  if (tolerance === undefined) return { step: { kind: 'tolerance-none' } };
  if (tolerance.kind === 'min-accuracy') {
    return { floor: tolerance.points / 100, step: { kind: 'tolerance-min-accuracy', points: tolerance.points } };
  }
  const reference = tolerance.relativeTo === 'source-module' ? accuracy.sourceModule : (accuracy.targetRetrained as number);
  const floor = reference - tolerance.points / 100;
  return { floor, step: { kind: 'tolerance-max-drop', relativeTo: tolerance.relativeTo, reference, points: tolerance.points, floor } };
}

interface PricedOption {
  readonly action: DecisionAction;
  readonly accuracy: number;
  readonly cost: number;
  /** The cost arithmetic, such as `retrain cost = 0.12 h × $3.00/h + … = $192.36` in English. */
  readonly costStep: DecisionStep;
}

function retrainCostStep(cost: RetrainCost, prices: Prices, weighed: boolean): RetrainCostStep {
  const hours = cost.seconds / 3600;
  const engineerHours = prices.engineerHoursPerRetrain;
  const total = hours * prices.computePerHour + cost.labelledExamples * prices.perLabelledExample + engineerHours * prices.perEngineerHour;
  return {
    kind: 'retrain-cost',
    measuredOn: cost.measuredOn,
    weighed,
    hours,
    computePerHour: prices.computePerHour,
    labelledExamples: cost.labelledExamples,
    perLabelledExample: prices.perLabelledExample,
    engineerHours,
    perEngineerHour: prices.perEngineerHour,
    total,
  };
}

function priceLabelFree(action: LabelFreeCostStep['action'], cost: LabelFreeCost, accuracy: number, engineerHours: number, prices: Prices): PricedOption {
  const hours = cost.seconds / 3600;
  const total = hours * prices.computePerHour + engineerHours * prices.perEngineerHour;
  const costStep: LabelFreeCostStep = {
    kind: 'label-free-cost',
    action,
    hours,
    computePerHour: prices.computePerHour,
    engineerHours,
    perEngineerHour: prices.perEngineerHour,
    unlabeledImages: cost.unlabeledImages,
    total,
  };
  return { action, accuracy, cost: total, costStep };
}

function sameValue(a: OptionAssessment, b: OptionAssessment): boolean {
  return Math.abs(a.value - b.value) <= 1e-9 * Math.max(1, Math.abs(a.value), Math.abs(b.value));
}

/** Orders options best first: higher value, then higher accuracy, then lower cost, then the order reuse, zero-shot, retrain, migrate. */
function compareOptions(a: OptionAssessment, b: OptionAssessment, order: readonly DecisionAction[]): number {
  if (!sameValue(a, b)) return b.value - a.value;
  if (a.accuracy !== b.accuracy) return b.accuracy - a.accuracy;
  if (a.cost !== b.cost) return a.cost - b.cost;
  return order.indexOf(a.action) - order.indexOf(b.action);
}

/** Returns the last step when `chosen` won over `runnerUp`, naming the rule that separated them. */
function decisionStep(chosen: OptionAssessment, runnerUp: OptionAssessment): DecisionStep {
  if (!sameValue(chosen, runnerUp)) return { kind: 'decision-highest-value', action: chosen.action, value: chosen.value };
  let tieBreak: 'more-accurate' | 'cheaper' | 'order' = 'order';
  if (chosen.accuracy !== runnerUp.accuracy) tieBreak = 'more-accurate';
  else if (chosen.cost !== runnerUp.cost) tieBreak = 'cheaper';
  return { kind: 'decision-tie', action: chosen.action, runnerUp: runnerUp.action, value: chosen.value, tieBreak };
}

/** Returns the value lost by each option against the most accurate one, then the value of each option. */
function valueSteps(options: readonly OptionAssessment[], mostAccurate: OptionAssessment, prices: Prices): DecisionStep[] {
  const perAccuracyPoint = prices.perAccuracyPoint;
  const steps: DecisionStep[] = [];
  for (const option of options) {
    if (option.accuracy >= mostAccurate.accuracy) continue;
    const points = (mostAccurate.accuracy - option.accuracy) * 100;
    steps.push({ kind: 'value-lost', action: option.action, mostAccurate: mostAccurate.action, points, perAccuracyPoint, amount: points * perAccuracyPoint });
  }
  for (const option of options) {
    steps.push({ kind: 'option-value', action: option.action, accuracy: option.accuracy, perAccuracyPoint, cost: option.cost, value: option.value });
  }
  return steps;
}

/**
 * Decides whether to reuse the transplanted module, retrain it on the target, fall back to target
 * zero-shot, or use a measured label-free migration.
 *
 * The rules:
 * 1. An option is admissible when its accuracy meets the tolerance (every option, without a tolerance).
 * 2. Each option's value = accuracy in points × `prices.perAccuracyPoint` − its cost. Retraining costs
 *    compute hours × `computePerHour` + labelled examples × `perLabelledExample` + `engineerHoursPerRetrain`
 *    × `perEngineerHour`. Reuse and zero-shot cost their compute hours, close to 0. A migration costs its
 *    compute hours and `engineerHoursPerMigration` × `perEngineerHour`.
 * 3. The admissible option of highest value wins. Ties go to the more accurate, then the cheaper option.
 *    With every price at 0, the most accurate admissible option wins.
 * 4. When no option is admissible, the most accurate one is chosen and `meetsTolerance` is false.
 * 5. When the retrained accuracy is unknown, retraining is left out and `retrainMeasured` is false. Its
 *    cost is still shown when the cost record has it, for example estimated from training on the source.
 *
 * The decision carries its reason and arithmetic twice: as numbers (`explanation`, `steps`), which a report
 * renders in its own language, and as English text (`reason`, `arithmetic`) written from those numbers.
 *
 * Throws a DecisionInputError, naming the field, for an accuracy outside [0, 1], a negative price, a
 * negative time or count, a tolerance that cannot be evaluated, or a named migration without its accuracy.
 */
export function decide(input: DecisionInput): Decision {
  checkInput(input);
  const prices = resolvePrices(input.prices);
  const { accuracy, cost } = input;
  const retrainMeasured = accuracy.targetRetrained !== undefined;
  const steps: DecisionStep[] = [];

  // Step 1: the migration that was measured, and the tolerance floor.
  if (input.migration !== undefined && cost.migration !== undefined) {
    const { method, condition } = input.migration;
    steps.push({ kind: 'migration-measured', condition, method, unlabeledImages: cost.migration.unlabeledImages });
  }
  const { floor, step: tolerance } = toleranceStep(input.tolerance, accuracy);
  steps.push(tolerance);

  // Step 2: the options and their costs.
  const priced: PricedOption[] = [
    priceLabelFree('reuse', cost.transplant, accuracy.targetTransplanted, 0, prices),
    priceLabelFree('zero-shot', cost.zeroShot, accuracy.targetZeroShot, 0, prices),
  ];
  if (retrainMeasured && cost.retrain !== undefined) {
    const costStep = retrainCostStep(cost.retrain, prices, true);
    priced.push({ action: 'retrain', accuracy: accuracy.targetRetrained as number, cost: costStep.total, costStep });
  } else if (cost.retrain !== undefined) {
    steps.push({ kind: 'retrain-not-weighed', costMeasured: true });
    steps.push(retrainCostStep(cost.retrain, prices, false));
  } else {
    steps.push({ kind: 'retrain-not-weighed', costMeasured: false });
  }
  if (accuracy.targetMigrated !== undefined && cost.migration !== undefined) {
    priced.push(priceLabelFree('migrate', cost.migration, accuracy.targetMigrated, prices.engineerHoursPerMigration, prices));
  }
  const order = priced.map((option) => option.action);

  // Step 3: admissibility and value of each option.
  const options: OptionAssessment[] = priced.map((option) => ({
    action: option.action,
    accuracy: option.accuracy,
    cost: option.cost,
    value: option.accuracy * 100 * prices.perAccuracyPoint - option.cost,
    admissible: floor === undefined || option.accuracy >= floor - comparisonSlack,
  }));
  for (const option of options) {
    const verdict = floor === undefined ? {} : { meetsTolerance: option.admissible };
    steps.push({ kind: 'option-accuracy', action: option.action, accuracy: option.accuracy, ...verdict });
  }
  for (const option of priced) steps.push(option.costStep);
  const mostAccurate = [...options].sort((a, b) => b.accuracy - a.accuracy || order.indexOf(a.action) - order.indexOf(b.action))[0] as OptionAssessment;
  steps.push(...valueSteps(options, mostAccurate, prices));

  // Step 4: the choice. Without a tolerance every option is admissible, so `floor` is set in the first two branches.
  const admissible = options.filter((option) => option.admissible).sort((a, b) => compareOptions(a, b, order));
  const meetsTolerance = admissible.length > 0;
  const chosen = meetsTolerance ? (admissible[0] as OptionAssessment) : mostAccurate;
  const common = {
    retrainMeasured,
    ...(chosen.action === 'migrate' && input.migration !== undefined ? { migrationMethod: input.migration.method } : {}),
  };

  let explanation: DecisionExplanation;
  if (!meetsTolerance) {
    explanation = { kind: 'no-option-meets-tolerance', action: chosen.action, accuracy: chosen.accuracy, floor: floor as number, ...common };
    steps.push({ kind: 'decision-most-accurate', action: chosen.action });
  } else if (admissible.length === 1) {
    explanation = { kind: 'only-admissible', action: chosen.action, floor: floor as number, ...common };
    steps.push({ kind: 'decision-only-admissible', action: chosen.action });
  } else {
    const runnerUp = admissible[1] as OptionAssessment;
    const points = (chosen.accuracy - runnerUp.accuracy) * 100;
    explanation = {
      kind: 'compared',
      action: chosen.action,
      runnerUp: runnerUp.action,
      points,
      ...(prices.perAccuracyPoint > 0 ? { worth: Math.abs(points) * prices.perAccuracyPoint } : {}),
      costDifference: chosen.cost - runnerUp.cost,
      ...common,
    };
    steps.push(decisionStep(chosen, runnerUp));
  }

  return {
    action: chosen.action,
    reason: formatReasonInEnglish(explanation, prices.currency),
    arithmetic: steps.map((step) => formatStepInEnglish(step, prices.currency)),
    explanation,
    steps,
    options,
    ...(floor === undefined ? {} : { accuracyFloor: floor }),
    retrainMeasured,
    meetsTolerance,
    currency: prices.currency,
  };
}
