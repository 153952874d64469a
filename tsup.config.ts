import { rmSync } from 'node:fs';
import { defineConfig, type Options } from 'tsup';

const shared: Options = {
  entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts', 'testing/vitest': 'src/testing/vitest.ts', 'cli/main': 'src/cli/main.ts' },
  dts: { compilerOptions: { moduleResolution: 'bundler', module: 'esnext' } },
  sourcemap: true,
  shims: true,
  target: 'node20',
  external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
  // tsup builds the configs of the array in parallel, so a per-config `clean` could delete the other
  // build's output. The folder is emptied once below, before both start.
  clean: false,
};

// Two builds, each with its own declaration files: ES modules (.js, .d.ts) and CommonJS (.cjs, .d.cts).
// The ES module build splits shared code into chunks, so dist/index.js and dist/cli/main.js import one copy
// of the registries. A method that a plugin registers through `import 'vlm-compat'` is then visible to the
// vlm-compat command. The CommonJS build bundles each entry whole, so dist/index.cjs has a registry of its
// own, and a plugin loaded with require() registers methods the command does not see.
export default defineConfig(() => {
  rmSync('dist', { recursive: true, force: true });
  return [
    { ...shared, format: 'esm', splitting: true },
    { ...shared, format: 'cjs', splitting: false },
  ];
});
