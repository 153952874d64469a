export * from './types.js';
export * from './errors.js';
export * from './sets.js';
export * from './builtins.js';
export * from './per-class.js';
export * from './bootstrap.js';
export * from './compute.js';
export * from './cost.js';
export * from './decision.js';
export {
  formatReasonInEnglish,
  formatStepInEnglish,
  type ComparedExplanation,
  type DecisionExplanation,
  type DecisionExplanationBase,
  type DecisionHighestValueStep,
  type DecisionMostAccurateStep,
  type DecisionOnlyAdmissibleStep,
  type DecisionStep,
  type DecisionTieStep,
  type LabelFreeCostStep,
  type MigrationMeasuredStep,
  type NoOptionMeetsToleranceExplanation,
  type OnlyAdmissibleExplanation,
  type OptionAccuracyStep,
  type OptionValueStep,
  type RetrainCostStep,
  type RetrainNotWeighedStep,
  type ToleranceMaxDropStep,
  type ToleranceMinAccuracyStep,
  type ToleranceNoneStep,
  type ValueLostStep,
} from './decision-explanation.js';
