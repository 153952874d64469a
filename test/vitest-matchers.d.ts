// Types for the custom matchers the tests register with expect.extend, declared as vitest's docs show.
import 'vitest';
import type { PortabilityMatchers } from '../src/testing/vitest.js';

declare module 'vitest' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-explicit-any
  interface Matchers<T = any> extends PortabilityMatchers<T> {}
}
