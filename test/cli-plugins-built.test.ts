import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getMethod, resolveConfig } from '../src/adapters/registry.js';
import { saveModule } from '../src/adapters/save.js';
import { loadBackbone } from '../src/backbones/registry.js';
import { createRandom } from '../src/runtime/random.js';
import { linkPackages, repositoryRoot, residualPluginSource, writeTinyConfig } from './cli-plugins-fixture.js';
import { tinyClassNames } from './fixtures/tiny-task.js';
import { writeTinyWorkspace } from './fixtures/cli.js';

// These tests run the built package (dist/) under plain Node.js, as an installed vlm-compat runs. Each
// command is a new process, and a plugin resolves `vlm-compat` through node_modules to dist/index.js.
const built = existsSync(join(repositoryRoot, 'dist', 'index.js')) && existsSync(join(repositoryRoot, 'dist', 'cli', 'main.js'));

let folder: string;

/** Runs `node file ...args` in the test folder on the cpu backend. */
function node(file: string, ...args: string[]) {
  const env = { ...process.env, VLM_COMPAT_BACKEND: 'cpu' };
  return spawnSync(process.execPath, [file, ...args], { cwd: folder, encoding: 'utf8', env, timeout: 120_000 });
}

/** Runs the vlm-compat command from bin/ with `args`. */
function command(...args: string[]) {
  return node(join(repositoryRoot, 'bin', 'vlm-compat.mjs'), ...args);
}

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-compat-cli-plugins-built-'));
  await linkPackages(folder);
  await writeTinyWorkspace(folder);
  await writeFile(join(folder, 'residual-built.mjs'), residualPluginSource('residual-built'));
  await writeFile(join(folder, 'plugin.cjs'), "const { getMethod, registerMethod } = require('vlm-compat');\nregisterMethod({ ...getMethod('clip-adapter'), name: 'residual-cjs' });\n");
  await writeFile(join(folder, 'typed.ts'), 'export const width: number = 4;\n');
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe.skipIf(!built)('built CLI with plugins', () => {
  it('shares the registry with dist/index.js', async () => {
    await writeTinyConfig(join(folder, 'script.json'), { modules: [{ method: 'script-method' }] });
    const script = [
      `import { getMethod, registerMethod } from '${pathToFileURL(join(repositoryRoot, 'dist', 'index.js')).href}';`,
      `import { main } from '${pathToFileURL(join(repositoryRoot, 'dist', 'cli', 'main.js')).href}';`,
      "registerMethod({ ...getMethod('clip-adapter'), name: 'script-method' });",
      "process.exitCode = await main(['check', '--config', 'script.json']);",
    ].join('\n');
    await writeFile(join(folder, 'script.mjs'), script);
    const run = node(join(folder, 'script.mjs'));
    expect(run.stderr).not.toContain('Unknown tuning method');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('script.json: valid');
  });

  it('checks a config with an ES module plugin', async () => {
    await writeTinyConfig(join(folder, 'esm.json'), { plugins: ['residual-built.mjs'], modules: [{ method: 'residual-built' }] });
    const run = command('check', '--config', 'esm.json');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('plugin residual-built.mjs: registered methods residual-built');
  });

  it('evaluates a cell of a plugin method', async () => {
    await writeTinyConfig(join(folder, 'evaluate.json'), { plugins: ['residual-built.mjs'], modules: [{ method: 'residual-built' }], retrain: false, output: 'out-evaluate' });
    const run = command('evaluate', '--config', 'evaluate.json');
    expect(run.stderr).toContain('[1/1] tiny/residual-built/2-shot/seed 1: ok');
    expect(run.status).toBe(0);
    const results = JSON.parse(await readFile(join(folder, 'out-evaluate', 'results.json'), 'utf8'));
    expect(results.cells[0].status).toBe('ok');
  });

  it('rejects the method of a CommonJS plugin', async () => {
    await writeTinyConfig(join(folder, 'cjs.json'), { plugins: ['plugin.cjs'], modules: [{ method: 'residual-cjs' }] });
    const run = command('check', '--config', 'cjs.json');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('modules.0.method: Unknown tuning method "residual-cjs"');
    expect(run.stderr).toContain('Plugins loaded: plugin.cjs (registered no new method or backbone).');
  });

  it('asks to compile a TypeScript plugin', async () => {
    await writeTinyConfig(join(folder, 'typed.json'), { plugins: ['typed.ts'], modules: [{ method: 'coop' }] });
    const run = command('check', '--config', 'typed.json');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('Compile the plugin to JavaScript');
  });

  it('preflights a saved module with --plugins', async () => {
    // The test process registers the method in the source tree's registry to create and save a module.
    await import(pathToFileURL(join(folder, 'residual-built.mjs')).href);
    const backbone = await loadBackbone(join(folder, 'source'));
    const before = tf.memory().numTensors;
    const method = getMethod('residual-built');
    const module = method.create({ backbone, classNames: [...tinyClassNames], config: resolveConfig(method, {}), random: createRandom(1), template: 'a photo of a {}.' });
    await saveModule(module, join(folder, 'saved'));
    module.dispose();
    expect(tf.memory().numTensors).toBe(before);
    backbone.dispose();

    const without = command('check', '--module', 'saved', '--target', 'target');
    expect(without.status).toBe(1);
    expect(without.stderr).toContain('Unknown tuning method "residual-built"');

    const withPlugin = command('check', '--module', 'saved', '--target', 'target', '--plugins', 'residual-built.mjs');
    expect(withPlugin.status).toBe(0);
    expect(withPlugin.stdout).toContain('residual-built (trained on');
  });
});
