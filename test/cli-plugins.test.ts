import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, writeTinyWorkspace } from './fixtures/cli.js';
import { residualPluginSource, writeTinyConfig } from './cli-plugins-fixture.js';

const run = runCli;

let folder: string;

/** Writes `name.json` in the test folder from the tiny defaults and `fields`, and returns its path. */
async function config(name: string, fields: Record<string, unknown>): Promise<string> {
  const path = join(folder, `${name}.json`);
  await writeTinyConfig(path, fields);
  return path;
}

// Each test registers its own method names, because an imported plugin stays in the process's registry
// and shared names would make the tests depend on their order.
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-compat-cli-plugins-'));
  await writeTinyWorkspace(folder);
  for (const method of ['residual-check', 'residual-options', 'residual-evaluate']) {
    await writeFile(join(folder, `${method}.mjs`), residualPluginSource(method));
  }
  await writeFile(join(folder, 'empty.mjs'), 'export {};\n');
  await writeFile(join(folder, 'throws.mjs'), "throw new Error('plugin setup failed: no weights');\n");
  await writeFile(join(folder, 'parses.mjs'), "JSON.parse('{');\n");
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('check with plugins', () => {
  it('accepts a method a plugin registers', async () => {
    const path = await config('uses-plugin', { plugins: ['./residual-check.mjs'], modules: [{ method: 'residual-check' }] });
    const result = await run('check', '--config', path);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('plugin ./residual-check.mjs: registered methods residual-check');
    expect(result.stdout).toMatch(/uses-plugin\.json: valid; 1 module/);
  });

  it('rejects the method without its plugin', async () => {
    const path = await config('no-plugin', { modules: [{ method: 'residual-unregistered' }] });
    const result = await run('check', '--config', path);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('modules.0.method: Unknown tuning method "residual-unregistered".');
    expect(result.stderr).toContain('To use a custom method, list the file that registers it in the config\'s "plugins".');
    expect(result.stderr).not.toContain('Plugins must be ES modules');
  });

  it('names the loaded plugins for an unknown method', async () => {
    const path = await config('wrong-plugin', { plugins: ['empty.mjs'], modules: [{ method: 'residual-unregistered' }] });
    const result = await run('check', '--config', path);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Plugins loaded: empty.mjs (registered no new method or backbone).');
  });

  it('reports a missing plugin with its resolved path', async () => {
    const path = await config('missing-plugin', { plugins: ['empty.mjs', 'plugins/absent.mjs'], modules: [{ method: 'coop' }] });
    const result = await run('check', '--config', path);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`plugins.1: plugin file not found: ${join(folder, 'plugins', 'absent.mjs')}`);
  });

  it('locates a runtime syntax error without node --check', async () => {
    const path = await config('parsing-plugin', { plugins: ['parses.mjs'], modules: [{ method: 'coop' }] });
    const result = await run('check', '--config', path);
    expect(result.stderr).toMatch(/parses\.mjs:1:\d+\) failed on import/);
    expect(result.stderr).not.toContain('node --check');
  });

  it('reports a plugin that throws on import', async () => {
    const path = await config('throwing-plugin', { plugins: ['throws.mjs'], modules: [{ method: 'coop' }] });
    const result = await run('check', '--config', path);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`plugin plugins.0 (${join(folder, 'throws.mjs')}`);
    expect(result.stderr).toContain('failed on import: plugin setup failed: no weights');
  });

  it('rejects plugins that are not strings', async () => {
    const path = await config('numeric-plugin', { plugins: ['empty.mjs', 3], modules: [{ method: 'coop' }] });
    const result = await run('check', '--config', path);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('plugins.1: got 3, expected a string');
  });

  it('rejects a misspelt plugins field', async () => {
    const path = await config('plugin-typo', { plugin: ['empty.mjs'], modules: [{ method: 'coop' }] });
    const result = await run('check', '--config', path);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('plugin: Unknown config field "plugin". Did you mean "plugins"?');
  });
});

describe('check of module options', () => {
  it('reports every invalid option at once', async () => {
    const path = await config('bad-options', {
      plugins: ['residual-options.mjs'],
      modules: [
        { method: 'clip-adapter', options: { reduction: 0, residualRatio: 'high' } },
        { method: 'residual-options', options: { ratio: 2, ratoi: 0.1 } },
      ],
    });
    const result = await run('check', '--config', path);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('modules.0.options.reduction: got 0, expected a positive integer');
    expect(result.stderr).toContain('modules.0.options.residualRatio: got "high", expected a number from 0 to 1');
    expect(result.stderr).toContain('modules.1.options.ratio: got 2, expected a number from 0 to 1');
    expect(result.stderr).toContain('modules.1.options.ratoi: Unknown residual-options option "ratoi". Did you mean "ratio"?');
  });

  it('loads no backbone for invalid options', async () => {
    const path = await config('bad-option', { modules: [{ method: 'coop', options: { contextTokens: -1 } }] });
    const result = await run('check', '--config', path);
    expect(result.code).toBe(1);
    expect(result.stdout).not.toContain('source:');
  });

  it('stops evaluate before the first cell', async () => {
    const path = await config('bad-option-evaluate', { modules: [{ method: 'clip-adapter', options: { reduction: 'four' } }], output: 'out-bad-option' });
    const result = await run('evaluate', '--config', path);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('modules.0.options.reduction: got "four", expected a positive integer');
  });
});

describe('evaluate with plugins', () => {
  it('runs a cell of a plugin method', async () => {
    const path = await config('evaluate-plugin', {
      plugins: ['residual-evaluate.mjs'],
      modules: [{ method: 'residual-evaluate', options: { ratio: 0.2 } }],
      output: 'out-plugin',
    });
    const before = tf.memory().numTensors;
    const result = await run('evaluate', '--config', path);
    expect(tf.memory().numTensors).toBe(before);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('plugin residual-evaluate.mjs: registered methods residual-evaluate');
    const results = JSON.parse(await readFile(join(folder, 'out-plugin', 'results.json'), 'utf8'));
    expect(results.cells).toHaveLength(1);
    expect(results.cells[0].status).toBe('ok');
  });
});

describe('check --module with --plugins', () => {
  it('reports a missing plugin file', async () => {
    const result = await run('check', '--module', join(folder, 'saved'), '--target', join(folder, 'target'), '--plugins', join(folder, 'absent.mjs'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`--plugins: plugin file not found: ${join(folder, 'absent.mjs')}`);
  });
});
