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
 * For the types, declare {@link PortabilityMatchers} in vitest's `Matchers` interface as shown there.
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
    return {
      /** True when every threshold holds. */
      pass: report.failures.length === 0,
      /** The measured values, the failed thresholds and the worst classes. */
      message: () => message,
    };
  },
};

/**
 * The matcher's type, for vitest's `Matchers` interface. Declare it once in the project, as vitest's docs show
 * for custom matchers:
 *
 * ```ts
 * import 'vitest';
 * import type { PortabilityMatchers } from 'vlm-compat/testing/vitest';
 * declare module 'vitest' {
 *   interface Matchers<T = any> extends PortabilityMatchers<T> {}
 * }
 * ```
 */
export interface PortabilityMatchers<R = unknown> {
  /** Asserts that the tuning module transplanted onto `target` meets the thresholds. */
  toTransferTo(target: Backbone, options: PortabilityOptions): Promise<R>;
}
