/**
 * Label-free compatibility forecast: how alike two backbones are where a tuning module attaches, and the
 * retention a fitted linear model predicts from that, before any transplanted evaluation.
 */
export * from './types.js';
export { forecastCompatibility, defaultForecastClasses, defaultForecastImages, forecastImageBudget, forecastImageShare, minimumForecastImages } from './forecast.js';
export { linearCka, debiasedLinearCka, debiasedCkaMinimumRows, procrustesResidual, featureSimilarity, zeroShotAgreement } from './similarity.js';
export { depthCategory, featureSetFor, designRow, predictRetention, decodeForecastCoefficients, defaultForecastCoefficients, forecastCoefficientsCodec, type RetentionPrediction } from './predictor.js';
export { fitForecastCoefficients, forecastRowsFromResults, twoSidedNormalQuantile, type FitForecastOptions, type ForecastRowOptions, type ForecastRows, type ForecastTrainingRow, type SkippedCells } from './fit.js';
export { symmetricEigen, symmetricEigenvalues, orthogonalProcrustes, nuclearNorm, crossNuclearNorm, type SymmetricEigen, type ProcrustesSolution } from './linalg.js';
export { LabelAccessError, openUnlabeled, pickImages, type OpenedImages } from './unlabeled.js';
