import type { TuningMethod } from '../types.js';
import { linearProbe } from './linear-probe.js';

export type { LinearProbeConfig, ProbeSelection } from './linear-probe.js';
export { linearProbe };
export { fitLogisticRegression, scoreLogisticRegression, type LogisticRegressionFit, type LogisticRegressionOptions } from './logistic-regression.js';

/** The probe methods. */
export const methods: readonly TuningMethod<never>[] = [linearProbe] as unknown as readonly TuningMethod<never>[];
