import type { TrainReport } from '../training/types.js';
import { DecisionInputError } from './errors.js';

/** Cost of training the module afresh on the target backbone, taken from a training run. */
export interface RetrainCost {
  /** Wall-clock time of the training run, seconds. */
  readonly seconds: number;
  /** Training examples processed, counting repeats across epochs. */
  readonly examplesSeen: number;
  /** Number of trainable scalars. */
  readonly trainableParameters: number;
  /** Tensor backend the run used. */
  readonly backend: string;
  /** Labelled training examples retraining needs: shots × classes. */
  readonly labelledExamples: number;
  /**
   * `target` when retraining on the target was run and timed. `source` when the training run on the source
   * backbone serves as an estimate, because retraining was not run.
   */
  readonly measuredOn: 'target' | 'source';
}

/** Cost of an option that needs no labels: transplanting, zero-shot, or a label-free migration. */
export interface LabelFreeCost {
  /** Wall-clock compute time, seconds. */
  readonly seconds: number;
  /** Unlabeled images the option used, 0 for transplanting and zero-shot. */
  readonly unlabeledImages: number;
}

/** The cost of each way to serve the target backbone. */
export interface CostRecord {
  /** Cost of retraining, when it was measured or can be estimated from training on the source. */
  readonly retrain?: RetrainCost;
  /** Cost of moving the module over unchanged (preflight and loading), close to 0. */
  readonly transplant: LabelFreeCost;
  /** Cost of the target zero-shot baseline: 0, because it trains nothing. */
  readonly zeroShot: LabelFreeCost;
  /** Cost of a label-free migration of the module, when one was run. */
  readonly migration?: LabelFreeCost;
}

/** Input of {@link createCostRecord}. */
export interface CostRecordInput {
  /** Report of retraining the module on the target backbone, when it was run. */
  readonly retrain?: TrainReport;
  /** Report of training the module on the source backbone, used as the retrain estimate when `retrain` is absent. */
  readonly sourceTraining?: TrainReport;
  /** Training examples per class (K of K-shot). */
  readonly shots: number;
  /** Number of classes in the data set. */
  readonly classes: number;
  /** Seconds spent transplanting the module, preflight included. Default 0. */
  readonly transplantSeconds?: number;
  /** Measured cost of a label-free migration, when one was run. */
  readonly migration?: LabelFreeCost;
}

function checkCount(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new DecisionInputError(field, `${field} is ${value}, but it must be an integer ≥ 0.`);
  }
}

function checkSeconds(field: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new DecisionInputError(field, `${field} is ${value}, but it must be a finite number of seconds ≥ 0.`);
  }
}

/** Throws a DecisionInputError unless every time and count of `cost` is finite and ≥ 0. */
export function validateCostRecord(cost: CostRecord): void {
  if (cost.retrain !== undefined) {
    checkSeconds('cost.retrain.seconds', cost.retrain.seconds);
    checkCount('cost.retrain.labelledExamples', cost.retrain.labelledExamples);
  }
  const labelFree: [string, LabelFreeCost | undefined][] = [
    ['cost.transplant', cost.transplant],
    ['cost.zeroShot', cost.zeroShot],
    ['cost.migration', cost.migration],
  ];
  for (const [field, option] of labelFree) {
    if (option === undefined) continue;
    checkSeconds(`${field}.seconds`, option.seconds);
    checkCount(`${field}.unlabeledImages`, option.unlabeledImages);
  }
}

/**
 * Builds the cost record of one module from its training reports. Retraining needs shots × classes
 * labelled examples. When retraining was not run, the training run on the source serves as an estimate
 * and is marked `measuredOn: 'source'`. Transplanting costs `transplantSeconds` and zero-shot costs nothing.
 */
export function createCostRecord(input: CostRecordInput): CostRecord {
  checkCount('shots', input.shots);
  checkCount('classes', input.classes);
  const transplantSeconds = input.transplantSeconds ?? 0;
  checkSeconds('transplantSeconds', transplantSeconds);

  const report = input.retrain ?? input.sourceTraining;
  const retrain: RetrainCost | undefined =
    report === undefined
      ? undefined
      : {
          seconds: report.seconds,
          examplesSeen: report.examplesSeen,
          trainableParameters: report.trainableParameters,
          backend: report.backend,
          labelledExamples: input.shots * input.classes,
          measuredOn: input.retrain === undefined ? 'source' : 'target',
        };

  const record: CostRecord = {
    ...(retrain === undefined ? {} : { retrain }),
    transplant: { seconds: transplantSeconds, unlabeledImages: 0 },
    zeroShot: { seconds: 0, unlabeledImages: 0 },
    ...(input.migration === undefined ? {} : { migration: input.migration }),
  };
  validateCostRecord(record);
  return record;
}

/** Prices that turn costs and accuracy into one currency. Every default is 0, so set the prices that apply. */
export interface Prices {
  /** Label written before every amount, such as `$` or `EUR `. Default `$`. */
  readonly currency: string;
  /** Price of one hour of wall-clock compute on the machine that trains. Default 0. */
  readonly computePerHour: number;
  /** Price of labelling one training example. Default 0. */
  readonly perLabelledExample: number;
  /** Price of one engineer hour. Default 0. */
  readonly perEngineerHour: number;
  /** Engineer hours one retrain takes: setting it up, running it and checking it. Default 0. */
  readonly engineerHoursPerRetrain: number;
  /** Engineer hours one label-free migration takes. Default 0. */
  readonly engineerHoursPerMigration: number;
  /**
   * Value of one accuracy point (1% of test examples) to the business, over the period the chosen option
   * serves, such as until the next backbone update. Default 0, which makes accuracy count only within the
   * tolerance and as a tie-breaker.
   */
  readonly perAccuracyPoint: number;
}

/** The default prices: all 0, currency `$`. They are placeholders, not estimates of real prices. */
export const defaultPrices: Prices = {
  currency: '$',
  computePerHour: 0,
  perLabelledExample: 0,
  perEngineerHour: 0,
  engineerHoursPerRetrain: 0,
  engineerHoursPerMigration: 0,
  perAccuracyPoint: 0,
};

/** Returns `prices` completed with {@link defaultPrices}. Throws a DecisionInputError for a negative or non-finite price. */
export function resolvePrices(prices: Partial<Prices> = {}): Prices {
  const resolved: Prices = { ...defaultPrices, ...prices };
  for (const [field, value] of Object.entries(resolved)) {
    if (field === 'currency') continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new DecisionInputError(`prices.${field}`, `prices.${field} is ${String(value)}, but it must be a finite number ≥ 0.`);
    }
  }
  return resolved;
}
