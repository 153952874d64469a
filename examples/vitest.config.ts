import { defineConfig } from 'vitest/config';

// Runs the example tests, which import the built package (`vlm-compat` resolves to dist/), so they stay out
// of the main suite's include (test/**/*.test.ts). Run from the repository root: `npm run examples`.
export default defineConfig({
  test: {
    include: ['examples/**/*.test.ts'],
  },
});
