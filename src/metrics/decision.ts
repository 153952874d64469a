import { accuracyMetric } from './builtins.js';
import { resolvePrices, validateCostRecord, type CostRecord, type LabelFreeCost, type Prices, type RetrainCost } from './cost.js';
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
  /** One line saying why. */
  readonly reason: string;
  /** The arithmetic, one step per line, with every number that went into the decision. */
  readonly arithmetic: readonly string[];
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

const actionLabels: Record<DecisionAction, { readonly title: string; readonly gerund: string }> = {
  reuse: { title: 'Reuse', gerund: 'reusing' },
  'zero-shot': { title: 'Zero-shot', gerund: 'falling back to zero-shot' },
  retrain: { title: 'Retrain', gerund: 'retraining' },
  migrate: { title: 'Migrate', gerund: 'migrating' },
};

/** Slack for comparing an accuracy with the tolerance floor, so that an accuracy exactly at the floor passes despite rounding. */
const comparisonSlack = 1e-12;

function formatPercent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

function formatPoints(fraction: number): string {
  return (fraction * 100).toFixed(1);
}

function formatQuantity(value: number): string {
  return value >= 100 ? value.toFixed(1) : String(Number(value.toPrecision(3)));
}

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

/** Returns the lowest admissible accuracy (fraction) and the line that shows how it was computed. */
function accuracyFloor(tolerance: Tolerance | undefined, accuracy: DecisionAccuracies): { floor?: number; line: string } {
  if (tolerance === undefined) return { line: 'tolerance: none set, so every option is admissible' };
  if (tolerance.kind === 'min-accuracy') {
    return { floor: tolerance.points / 100, line: `tolerance: accuracy ≥ ${tolerance.points.toFixed(1)}%` };
  }
  const reference = tolerance.relativeTo === 'source-module' ? accuracy.sourceModule : (accuracy.targetRetrained as number);
  const label = tolerance.relativeTo === 'source-module' ? 'source + module' : 'retrained on the target';
  const floor = reference - tolerance.points / 100;
  return {
    floor,
    line: `tolerance: accuracy ≥ ${formatPercent(reference)} (${label}) − ${tolerance.points.toFixed(1)} points = ${formatPercent(floor)}`,
  };
}

interface PricedOption {
  readonly action: DecisionAction;
  readonly accuracy: number;
  readonly cost: number;
  /** The cost arithmetic, such as `retrain cost = 0.12 h × $3.00/h + … = $192.36`. */
  readonly costLine: string;
}

function priceRetrain(cost: RetrainCost, accuracy: number, prices: Prices, money: (amount: number) => string, label = 'retrain cost'): PricedOption {
  const hours = cost.seconds / 3600;
  const total = hours * prices.computePerHour + cost.labelledExamples * prices.perLabelledExample + prices.engineerHoursPerRetrain * prices.perEngineerHour;
  const costLine =
    `${label} = ${formatQuantity(hours)} h × ${money(prices.computePerHour)}/h` +
    ` + ${cost.labelledExamples} labels × ${money(prices.perLabelledExample)}` +
    ` + ${formatQuantity(prices.engineerHoursPerRetrain)} engineer h × ${money(prices.perEngineerHour)}/h = ${money(total)}`;
  return { action: 'retrain', accuracy, cost: total, costLine };
}

function priceLabelFree(action: DecisionAction, cost: LabelFreeCost, accuracy: number, engineerHours: number, prices: Prices, money: (amount: number) => string): PricedOption {
  const hours = cost.seconds / 3600;
  const total = hours * prices.computePerHour + engineerHours * prices.perEngineerHour;
  const engineer = engineerHours === 0 ? '' : ` + ${formatQuantity(engineerHours)} engineer h × ${money(prices.perEngineerHour)}/h`;
  const images = cost.unlabeledImages === 0 ? '' : ` (${cost.unlabeledImages} unlabeled images, 0 labels)`;
  const costLine = `${action} cost = ${formatQuantity(hours)} h × ${money(prices.computePerHour)}/h${engineer} = ${money(total)}${images}`;
  return { action, accuracy, cost: total, costLine };
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

/** Returns the last arithmetic line when `chosen` won over `runnerUp`, naming the rule that separated them. */
function decisionLine(chosen: OptionAssessment, runnerUp: OptionAssessment, money: (amount: number) => string): string {
  const prefix = `decision: ${chosen.action}`;
  if (!sameValue(chosen, runnerUp)) return `${prefix}, the highest value among admissible options (${money(chosen.value)})`;
  const tie = `tied with ${runnerUp.action} at the highest value (${money(chosen.value)})`;
  if (chosen.accuracy !== runnerUp.accuracy) return `${prefix}, ${tie} and more accurate`;
  if (chosen.cost !== runnerUp.cost) return `${prefix}, ${tie} and as accurate, but cheaper`;
  return `${prefix}, ${tie}, as accurate and as costly, and first in the order reuse, zero-shot, retrain, migrate`;
}

/** Returns the one-line reason for choosing `chosen` over `runnerUp`, the best other admissible option. */
function compareInWords(chosen: OptionAssessment, runnerUp: OptionAssessment, prices: Prices, money: (amount: number) => string): string {
  const title = actionLabels[chosen.action].title;
  const points = (chosen.accuracy - runnerUp.accuracy) * 100;
  const costDifference = chosen.cost - runnerUp.cost;

  let accuracyPhrase = `as accurate as ${runnerUp.action}`;
  if (Math.abs(points) >= 0.05) {
    const worth = prices.perAccuracyPoint > 0 ? ` (worth ${money(Math.abs(points) * prices.perAccuracyPoint)})` : '';
    accuracyPhrase = `${Math.abs(points).toFixed(1)} points ${points > 0 ? 'more' : 'less'} accurate than ${runnerUp.action}${worth}`;
  }
  let costPhrase = 'at the same cost';
  if (Math.abs(costDifference) >= 0.005) costPhrase = costDifference > 0 ? `for ${money(costDifference)} more` : `and ${money(-costDifference)} cheaper`;

  return `${title} is ${accuracyPhrase}, ${costPhrase}.`;
}

/** Returns the value lost by each option against the most accurate one, then the value of each option. */
function valueLines(options: readonly OptionAssessment[], mostAccurate: OptionAssessment, prices: Prices, money: (amount: number) => string): string[] {
  const perPoint = `${money(prices.perAccuracyPoint)}/point`;
  const lines: string[] = [];
  for (const option of options) {
    if (option.accuracy >= mostAccurate.accuracy) continue;
    const points = (mostAccurate.accuracy - option.accuracy) * 100;
    lines.push(
      `value lost by ${actionLabels[option.action].gerund} instead of ${actionLabels[mostAccurate.action].gerund} = ` +
        `${points.toFixed(1)} points × ${perPoint} = ${money(points * prices.perAccuracyPoint)}`,
    );
  }
  for (const option of options) {
    lines.push(`${option.action} value = ${formatPoints(option.accuracy)} points × ${perPoint} − ${money(option.cost)} = ${money(option.value)}`);
  }
  return lines;
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
 * Throws a DecisionInputError, naming the field, for an accuracy outside [0, 1], a negative price, a
 * negative time or count, or a tolerance that cannot be evaluated.
 */
export function decide(input: DecisionInput): Decision {
  checkInput(input);
  const prices = resolvePrices(input.prices);
  const money = (amount: number): string => `${amount < 0 ? '-' : ''}${prices.currency}${Math.abs(amount).toFixed(2)}`;
  const { accuracy, cost } = input;
  const retrainMeasured = accuracy.targetRetrained !== undefined;
  const lines: string[] = [];

  // Step 1: the tolerance floor.
  const { floor, line: toleranceLine } = accuracyFloor(input.tolerance, accuracy);
  lines.push(toleranceLine);

  // Step 2: the options and their costs.
  const priced: PricedOption[] = [
    priceLabelFree('reuse', cost.transplant, accuracy.targetTransplanted, 0, prices, money),
    priceLabelFree('zero-shot', cost.zeroShot, accuracy.targetZeroShot, 0, prices, money),
  ];
  if (retrainMeasured && cost.retrain !== undefined) {
    const label = cost.retrain.measuredOn === 'source' ? 'retrain cost (estimated from training on the source)' : 'retrain cost';
    priced.push(priceRetrain(cost.retrain, accuracy.targetRetrained as number, prices, money, label));
  } else if (cost.retrain !== undefined) {
    const basis = cost.retrain.measuredOn === 'source' ? 'estimated from training on the source' : 'measured on the target';
    lines.push('retrain: accuracy not measured, so it is not weighed');
    lines.push(priceRetrain(cost.retrain, Number.NaN, prices, money, `retrain cost (${basis}, for reference)`).costLine);
  } else {
    lines.push('retrain: neither accuracy nor cost measured, so it is not weighed');
  }
  if (accuracy.targetMigrated !== undefined && cost.migration !== undefined) {
    priced.push(priceLabelFree('migrate', cost.migration, accuracy.targetMigrated, prices.engineerHoursPerMigration, prices, money));
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
    let verdict = '';
    if (floor !== undefined) verdict = option.admissible ? ', meets the tolerance' : ', below the tolerance';
    lines.push(`${option.action}: accuracy ${formatPercent(option.accuracy)}${verdict}`);
  }
  for (const option of priced) lines.push(option.costLine);
  const mostAccurate = [...options].sort((a, b) => b.accuracy - a.accuracy || order.indexOf(a.action) - order.indexOf(b.action))[0] as OptionAssessment;
  lines.push(...valueLines(options, mostAccurate, prices, money));

  // Step 4: the choice.
  const admissible = options.filter((option) => option.admissible).sort((a, b) => compareOptions(a, b, order));
  const meetsTolerance = admissible.length > 0;
  const chosen = meetsTolerance ? (admissible[0] as OptionAssessment) : mostAccurate;

  let reason: string;
  if (!meetsTolerance) {
    reason = `No option reaches the tolerance of ${formatPercent(floor as number)}. ${actionLabels[chosen.action].title} is the most accurate at ${formatPercent(chosen.accuracy)}.`;
    lines.push(`decision: ${chosen.action}, the most accurate option, because none meets the tolerance`);
  } else if (admissible.length === 1) {
    reason = `${actionLabels[chosen.action].title} is the only option that meets the tolerance of ${formatPercent(floor as number)}.`;
    lines.push(`decision: ${chosen.action}, the only option that meets the tolerance`);
  } else {
    const runnerUp = admissible[1] as OptionAssessment;
    reason = compareInWords(chosen, runnerUp, prices, money);
    lines.push(decisionLine(chosen, runnerUp, money));
  }
  if (!retrainMeasured) reason += ' Retraining was not measured, so it was not weighed.';

  return {
    action: chosen.action,
    reason,
    arithmetic: lines,
    options,
    ...(floor === undefined ? {} : { accuracyFloor: floor }),
    retrainMeasured,
    meetsTolerance,
    currency: prices.currency,
  };
}
