import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  // Tests import the examples, which import the package by name. The name resolves to the sources, so one copy
  // of the library and of its method registry is loaded. The smoke test runs the built package instead.
  resolve: {
    alias: [
      { find: /^vlm-compat$/, replacement: source('./src/index.ts') },
      { find: /^vlm-compat\/testing$/, replacement: source('./src/testing/index.ts') },
      { find: /^vlm-compat\/testing\/vitest$/, replacement: source('./src/testing/vitest.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup-backend.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
