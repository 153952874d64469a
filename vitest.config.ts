import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup-backend.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
