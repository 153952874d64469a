import { defineConfig } from 'tsup';

// ESM and CJS builds, each with its own declaration file (.d.ts and .d.cts).
export default defineConfig({
  entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts', 'testing/vitest': 'src/testing/vitest.ts', 'cli/main': 'src/cli/main.ts' },
  format: ['esm', 'cjs'],
  dts: { compilerOptions: { moduleResolution: 'bundler', module: 'esnext' } },
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'node20',
  splitting: false,
  external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
});
