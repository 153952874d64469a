/**
 * The `toTransferTo` matcher for vitest. Register it once, for example in a setup file:
 *
 * ```ts
 * import { expect } from 'vitest';
 * import { portabilityMatchers } from 'vlm-compat/testing/vitest';
 * expect.extend(portabilityMatchers);
 * await expect(module).toTransferTo(target, { source, dataset, minRetention: 0.9, maxNfr: 0.05 });
 * ```
 *
 * @packageDocumentation
 */
import type { TuningModule } from '../adapters/types.js';
import type { Backbone } from '../backbones/types.js';
import { describePortability, measurePortability, type PortabilityOptions } from './portability.js';

/** Matchers to pass to vitest's `expect.extend`. */
export const portabilityMatchers = {
  /** Passes when the module, transplanted onto `target`, meets every threshold in `options`. */
  async toTransferTo(received: TuningModule, target: Backbone, options: PortabilityOptions) {
    const report = await measurePortability(received, target, options);
    const message = describePortability(received, target, report, options.worstClasses);
    return { pass: report.failures.length === 0, message: () => message };
  },
};

declare module 'vitest' {
  // vitest merges this interface into `expect(...)` assertions; the type parameter must keep vitest's name and default.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  interface Matchers<T = any> {
    /** Asserts that the tuning module transplanted onto `target` meets the thresholds. */
    toTransferTo(target: Backbone, options: PortabilityOptions): Promise<T>;
  }
}
