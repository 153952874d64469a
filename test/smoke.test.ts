import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
const built = existsSync(join(root, 'dist', 'index.js')) && existsSync(join(root, 'dist', 'index.cjs'));

describe('built package under plain node', () => {
  it('has been built (npm test runs the build first)', () => {
    expect(built).toBe(true);
  });

  // The ES module run picks the backend by preference order; the CommonJS run requests wasm explicitly.
  const runs = [
    { entry: 'esm.mjs', backend: undefined, expected: /smoke esm: ok on backend (tensorflow-gpu|tensorflow|wasm)/ },
    { entry: 'cjs.cjs', backend: 'wasm', expected: /smoke cjs: ok on backend wasm/ },
  ];
  for (const { entry, backend, expected } of runs) {
    it.skipIf(!built)(`runs ${entry}`, () => {
      const env = { ...process.env };
      delete env.VLM_COMPAT_BACKEND;
      if (backend !== undefined) env.VLM_COMPAT_BACKEND = backend;
      const run = spawnSync(process.execPath, [join(__dirname, 'smoke', entry)], { encoding: 'utf8', cwd: root, env });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.stdout).toMatch(expected);
    });
  }
});
