import type { DecisionAction } from './decision.js';

/** Fields that every {@link DecisionExplanation} has, whatever rule chose the action. */
export interface DecisionExplanationBase {
  /** False when retraining was not measured, so that it was not weighed. */
  readonly retrainMeasured: boolean;
  /** Method of the label-free migration (such as `bridge`), present only when `migrate` was chosen and the input named the migration. */
  readonly migrationMethod?: string;
}

/** No option met the tolerance, so the most accurate one was chosen. */
export interface NoOptionMeetsToleranceExplanation extends DecisionExplanationBase {
  /** The rule that chose the action. */
  readonly kind: 'no-option-meets-tolerance';
  /** The chosen action. */
  readonly action: DecisionAction;
  /** Accuracy of the chosen option, fraction (0..1). */
  readonly accuracy: number;
  /** Lowest admissible accuracy, fraction (0..1). */
  readonly floor: number;
}

/** Exactly one option met the tolerance. */
export interface OnlyAdmissibleExplanation extends DecisionExplanationBase {
  /** The rule that chose the action. */
  readonly kind: 'only-admissible';
  /** The chosen action. */
  readonly action: DecisionAction;
  /** Lowest admissible accuracy, fraction (0..1). */
  readonly floor: number;
}

/** Several options were admissible, and the chosen one is set against the best of the others. */
export interface ComparedExplanation extends DecisionExplanationBase {
  /** The rule that chose the action. */
  readonly kind: 'compared';
  /** The chosen action. */
  readonly action: DecisionAction;
  /** The admissible option ranked second. */
  readonly runnerUp: DecisionAction;
  /** Accuracy of the chosen option minus that of the runner-up, in accuracy points (negative when the chosen one is less accurate). */
  readonly points: number;
  /** Worth of the accuracy difference in the currency, |points| × price per point. Present only when the price per point is above 0. */
  readonly worth?: number;
  /** Cost of the chosen option minus that of the runner-up, in the currency (negative when the chosen one is cheaper). */
  readonly costDifference: number;
}

/** The rule that chose a decision's action, with its numbers, so that any language can put it into words. */
export type DecisionExplanation = NoOptionMeetsToleranceExplanation | OnlyAdmissibleExplanation | ComparedExplanation;

/** Tolerance step: no tolerance was set. */
export interface ToleranceNoneStep {
  /** The step kind. */
  readonly kind: 'tolerance-none';
}

/** Tolerance step: an absolute minimum accuracy. */
export interface ToleranceMinAccuracyStep {
  /** The step kind. */
  readonly kind: 'tolerance-min-accuracy';
  /** The minimum, in accuracy points (0..100). */
  readonly points: number;
}

/** Tolerance step: a maximum drop below a reference accuracy. */
export interface ToleranceMaxDropStep {
  /** The step kind. */
  readonly kind: 'tolerance-max-drop';
  /** The reference condition: source + module, or the module retrained on the target. */
  readonly relativeTo: 'source-module' | 'target-retrained';
  /** Accuracy of the reference, fraction (0..1). */
  readonly reference: number;
  /** The largest acceptable drop, in accuracy points. */
  readonly points: number;
  /** reference − points / 100, fraction. */
  readonly floor: number;
}

/** Retraining was left out of the choice, because its accuracy was not measured. */
export interface RetrainNotWeighedStep {
  /** The step kind. */
  readonly kind: 'retrain-not-weighed';
  /** True when the cost of retraining is known and follows as a reference step. */
  readonly costMeasured: boolean;
}

/** The label-free migration weighed as `migrate`. */
export interface MigrationMeasuredStep {
  /** The step kind. */
  readonly kind: 'migration-measured';
  /** Name of the condition that contains the migration's predictions, such as `target-bridged`. */
  readonly condition: string;
  /** Migration method, such as `bridge` or `distill`. */
  readonly method: string;
  /** Unlabeled images the migration used. */
  readonly unlabeledImages: number;
}

/** Accuracy of one option and whether it meets the tolerance. */
export interface OptionAccuracyStep {
  /** The step kind. */
  readonly kind: 'option-accuracy';
  /** The option. */
  readonly action: DecisionAction;
  /** Its accuracy, fraction (0..1). */
  readonly accuracy: number;
  /** Whether the accuracy meets the tolerance; absent without a tolerance. */
  readonly meetsTolerance?: boolean;
}

/** Cost of retraining: compute, labels and engineer time. */
export interface RetrainCostStep {
  /** The step kind. */
  readonly kind: 'retrain-cost';
  /** `target` when retraining was timed on the target, `source` when training on the source serves as the estimate. */
  readonly measuredOn: 'target' | 'source';
  /** False when retraining was not weighed and its cost is shown for reference only. */
  readonly weighed: boolean;
  /** Wall-clock compute, hours. */
  readonly hours: number;
  /** Price of one compute hour. */
  readonly computePerHour: number;
  /** Labelled examples retraining needs. */
  readonly labelledExamples: number;
  /** Price of one labelled example. */
  readonly perLabelledExample: number;
  /** Engineer hours one retrain takes. */
  readonly engineerHours: number;
  /** Price of one engineer hour. */
  readonly perEngineerHour: number;
  /** The total, in the currency. */
  readonly total: number;
}

/** Cost of an option that needs no labels: reuse, zero-shot or a label-free migration. */
export interface LabelFreeCostStep {
  /** The step kind. */
  readonly kind: 'label-free-cost';
  /** The option. */
  readonly action: 'reuse' | 'zero-shot' | 'migrate';
  /** Wall-clock compute, hours. */
  readonly hours: number;
  /** Price of one compute hour. */
  readonly computePerHour: number;
  /** Engineer hours the option takes; 0 for reuse and zero-shot. */
  readonly engineerHours: number;
  /** Price of one engineer hour. */
  readonly perEngineerHour: number;
  /** Unlabeled images the option used; 0 for reuse and zero-shot. */
  readonly unlabeledImages: number;
  /** The total, in the currency. */
  readonly total: number;
}

/** Value lost by choosing a less accurate option instead of the most accurate one. */
export interface ValueLostStep {
  /** The step kind. */
  readonly kind: 'value-lost';
  /** The less accurate option. */
  readonly action: DecisionAction;
  /** The most accurate option. */
  readonly mostAccurate: DecisionAction;
  /** Accuracy difference, in accuracy points (> 0). */
  readonly points: number;
  /** Value of one accuracy point. */
  readonly perAccuracyPoint: number;
  /** points × perAccuracyPoint, in the currency. */
  readonly amount: number;
}

/** Value of one option: accuracy in points × price per point − cost. */
export interface OptionValueStep {
  /** The step kind. */
  readonly kind: 'option-value';
  /** The option. */
  readonly action: DecisionAction;
  /** Its accuracy, fraction (0..1). */
  readonly accuracy: number;
  /** Value of one accuracy point. */
  readonly perAccuracyPoint: number;
  /** Its cost, in the currency. */
  readonly cost: number;
  /** Its value, in the currency. */
  readonly value: number;
}

/** Decision step: no option met the tolerance, so the most accurate one was chosen. */
export interface DecisionMostAccurateStep {
  /** The step kind. */
  readonly kind: 'decision-most-accurate';
  /** The chosen action. */
  readonly action: DecisionAction;
}

/** Decision step: the chosen option is the only one that meets the tolerance. */
export interface DecisionOnlyAdmissibleStep {
  /** The step kind. */
  readonly kind: 'decision-only-admissible';
  /** The chosen action. */
  readonly action: DecisionAction;
}

/** Decision step: the chosen option has the highest value among the admissible ones. */
export interface DecisionHighestValueStep {
  /** The step kind. */
  readonly kind: 'decision-highest-value';
  /** The chosen action. */
  readonly action: DecisionAction;
  /** Its value, in the currency. */
  readonly value: number;
}

/** Decision step: the chosen option tied with the runner-up on value and won a tie-break. */
export interface DecisionTieStep {
  /** The step kind. */
  readonly kind: 'decision-tie';
  /** The chosen action. */
  readonly action: DecisionAction;
  /** The option it tied with. */
  readonly runnerUp: DecisionAction;
  /** The shared value, in the currency. */
  readonly value: number;
  /** The tie-break that decided: higher accuracy, then lower cost, then the order reuse, zero-shot, retrain, migrate. */
  readonly tieBreak: 'more-accurate' | 'cheaper' | 'order';
}

/** One step of a decision's arithmetic, with every number as a number so that any language can format it. */
export type DecisionStep =
  | ToleranceNoneStep
  | ToleranceMinAccuracyStep
  | ToleranceMaxDropStep
  | RetrainNotWeighedStep
  | MigrationMeasuredStep
  | OptionAccuracyStep
  | RetrainCostStep
  | LabelFreeCostStep
  | ValueLostStep
  | OptionValueStep
  | DecisionMostAccurateStep
  | DecisionOnlyAdmissibleStep
  | DecisionHighestValueStep
  | DecisionTieStep;

/** Accuracy differences below this many points are shown as "as accurate", because they round to 0.0. */
export const negligiblePoints = 0.05;

/** Cost differences below this amount are shown as "the same cost", because they round to 0.00. */
export const negligibleCost = 0.005;

// The formatters below are shared by every language, so that a number reads the same in each report.

/** Formats a fraction as a percentage with one decimal, such as `78.0%`. */
export function formatFraction(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

/** Formats an hour or engineer-hour count with 3 significant digits, or one decimal from 100 on. */
export function formatQuantity(value: number): string {
  return value >= 100 ? value.toFixed(1) : String(Number(value.toPrecision(3)));
}

/** Formats an amount with two decimals after the currency label, with the sign first: `-$12.50`. */
export function formatMoney(amount: number, currency: string): string {
  return `${amount < 0 ? '-' : ''}${currency}${Math.abs(amount).toFixed(2)}`;
}

const englishTitles: Record<DecisionAction, string> = { reuse: 'Reuse', 'zero-shot': 'Zero-shot', retrain: 'Retrain', migrate: 'Migrate' };
const englishGerunds: Record<DecisionAction, string> = {
  reuse: 'reusing',
  'zero-shot': 'falling back to zero-shot',
  retrain: 'retraining',
  migrate: 'migrating',
};

/** Writes the English sentence of a comparison: how much more or less accurate, and how much dearer or cheaper. */
function comparedInEnglish(explanation: ComparedExplanation, currency: string): string {
  const { action, runnerUp, points, worth, costDifference } = explanation;

  let accuracyPhrase = `as accurate as ${runnerUp}`;
  if (Math.abs(points) >= negligiblePoints) {
    const worthPhrase = worth === undefined ? '' : ` (worth ${formatMoney(worth, currency)})`;
    accuracyPhrase = `${Math.abs(points).toFixed(1)} points ${points > 0 ? 'more' : 'less'} accurate than ${runnerUp}${worthPhrase}`;
  }

  let costPhrase = 'at the same cost';
  if (Math.abs(costDifference) >= negligibleCost) {
    costPhrase = costDifference > 0 ? `for ${formatMoney(costDifference, currency)} more` : `and ${formatMoney(-costDifference, currency)} cheaper`;
  }

  return `${englishTitles[action]} is ${accuracyPhrase}, ${costPhrase}.`;
}

/** Writes the English reason of a decision: one or two sentences, as `Decision.reason` stores them. */
export function formatReasonInEnglish(explanation: DecisionExplanation, currency: string): string {
  const sentences: string[] = [];
  switch (explanation.kind) {
    case 'no-option-meets-tolerance':
      sentences.push(`No option reaches the tolerance of ${formatFraction(explanation.floor)}.`);
      sentences.push(`${englishTitles[explanation.action]} is the most accurate at ${formatFraction(explanation.accuracy)}.`);
      break;
    case 'only-admissible':
      sentences.push(`${englishTitles[explanation.action]} is the only option that meets the tolerance of ${formatFraction(explanation.floor)}.`);
      break;
    case 'compared':
      sentences.push(comparedInEnglish(explanation, currency));
      break;
  }

  if (!explanation.retrainMeasured) sentences.push('Retraining was not measured, so it was not weighed.');
  if (explanation.migrationMethod !== undefined) sentences.push(`Migrating by ${explanation.migrationMethod} needs no labels.`);
  return sentences.join(' ');
}

function retrainCostLabel(step: RetrainCostStep): string {
  const basis = step.measuredOn === 'source' ? 'estimated from training on the source' : 'measured on the target';
  if (!step.weighed) return `retrain cost (${basis}, for reference)`;
  return step.measuredOn === 'source' ? `retrain cost (${basis})` : 'retrain cost';
}

/** Writes one English line of a decision's arithmetic, as `Decision.arithmetic` stores it. */
export function formatStepInEnglish(step: DecisionStep, currency: string): string {
  const money = (amount: number): string => formatMoney(amount, currency);
  const perPoint = (price: number): string => `${money(price)}/point`;

  switch (step.kind) {
    case 'tolerance-none':
      return 'tolerance: none set, so every option is admissible';
    case 'tolerance-min-accuracy':
      return `tolerance: accuracy ≥ ${step.points.toFixed(1)}%`;
    case 'tolerance-max-drop': {
      const label = step.relativeTo === 'source-module' ? 'source + module' : 'retrained on the target';
      return `tolerance: accuracy ≥ ${formatFraction(step.reference)} (${label}) − ${step.points.toFixed(1)} points = ${formatFraction(step.floor)}`;
    }
    case 'retrain-not-weighed':
      return step.costMeasured ? 'retrain: accuracy not measured, so it is not weighed' : 'retrain: neither accuracy nor cost measured, so it is not weighed';
    case 'migration-measured':
      return `migrate: ${step.condition}, by ${step.method} from ${step.unlabeledImages} unlabeled images and no labels, the most accurate measured migration`;
    case 'option-accuracy': {
      let verdict = '';
      if (step.meetsTolerance !== undefined) verdict = step.meetsTolerance ? ', meets the tolerance' : ', below the tolerance';
      return `${step.action}: accuracy ${formatFraction(step.accuracy)}${verdict}`;
    }
    case 'retrain-cost':
      return (
        `${retrainCostLabel(step)} = ${formatQuantity(step.hours)} h × ${money(step.computePerHour)}/h` +
        ` + ${step.labelledExamples} labels × ${money(step.perLabelledExample)}` +
        ` + ${formatQuantity(step.engineerHours)} engineer h × ${money(step.perEngineerHour)}/h = ${money(step.total)}`
      );
    case 'label-free-cost': {
      const engineer = step.engineerHours === 0 ? '' : ` + ${formatQuantity(step.engineerHours)} engineer h × ${money(step.perEngineerHour)}/h`;
      const images = step.unlabeledImages === 0 ? '' : ` (${step.unlabeledImages} unlabeled images, 0 labels)`;
      return `${step.action} cost = ${formatQuantity(step.hours)} h × ${money(step.computePerHour)}/h${engineer} = ${money(step.total)}${images}`;
    }
    case 'value-lost':
      return (
        `value lost by ${englishGerunds[step.action]} instead of ${englishGerunds[step.mostAccurate]} = ` +
        `${step.points.toFixed(1)} points × ${perPoint(step.perAccuracyPoint)} = ${money(step.amount)}`
      );
    case 'option-value':
      return (
        `${step.action} value = ${(step.accuracy * 100).toFixed(1)} points × ${perPoint(step.perAccuracyPoint)}` +
        ` − ${money(step.cost)} = ${money(step.value)}`
      );
    case 'decision-most-accurate':
      return `decision: ${step.action}, the most accurate option, because none meets the tolerance`;
    case 'decision-only-admissible':
      return `decision: ${step.action}, the only option that meets the tolerance`;
    case 'decision-highest-value':
      return `decision: ${step.action}, the highest value among admissible options (${money(step.value)})`;
    case 'decision-tie': {
      const tie = `decision: ${step.action}, tied with ${step.runnerUp} at the highest value (${money(step.value)})`;
      if (step.tieBreak === 'more-accurate') return `${tie} and more accurate`;
      if (step.tieBreak === 'cheaper') return `${tie} and as accurate, but cheaper`;
      return `${tie}, as accurate and as costly, and first in the order reuse, zero-shot, retrain, migrate`;
    }
  }
}
