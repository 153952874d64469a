import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getMethod, resolveConfig } from '../src/adapters/registry.js';
import { saveModule } from '../src/adapters/save.js';
import { loadBackbone } from '../src/backbones/registry.js';
import { createRandom } from '../src/runtime/random.js';
import { writeTinyConfig } from './cli-plugins-fixture.js';
import { runCli, writeTinyWorkspace } from './fixtures/cli.js';
import { tinyClassNames } from './fixtures/tiny-task.js';

const run = runCli;

let folder: string;

/** Writes `name.json` in the test folder from the tiny defaults and `fields`, and returns its path. */
async function config(name: string, fields: Record<string, unknown>): Promise<string> {
  const path = join(folder, `${name}.json`);
  await writeTinyConfig(path, { modules: [{ method: 'coop' }], ...fields });
  return path;
}

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-compat-cli-check-'));
  await writeTinyWorkspace(folder);
  await writeFile(join(folder, 'empty.mjs'), 'export {};\n');

  // A saved CLIP-Adapter module whose manifest names a method that no plugin of the tests registers.
  const backbone = await loadBackbone(join(folder, 'source'));
  const method = getMethod('clip-adapter');
  const module = method.create({ backbone, classNames: [...tinyClassNames], config: resolveConfig(method, {}), random: createRandom(1), template: 'a photo of a {}.' });
  await saveModule(module, join(folder, 'custom'));
  module.dispose();
  backbone.dispose();
  const manifestPath = join(folder, 'custom', 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  await writeFile(manifestPath, JSON.stringify({ ...manifest, method: 'class-bias' }));
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('check --config', () => {
  it('accepts present data set files', async () => {
    const path = await config('valid', {});
    const before = tf.memory().numTensors;
    const result = await run('check', '--config', path);
    expect(tf.memory().numTensors).toBe(before);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('valid.json: valid; 1 module(s) × 1 data set(s), data set files found');
  });

  it('takes --backend', async () => {
    const path = await config('backend', { backend: 'wasm' });
    const before = tf.memory().numTensors;
    const result = await run('check', '--config', path, '--backend', 'cpu');
    expect(tf.memory().numTensors).toBe(before);
    expect(result.code).toBe(0);
  });

  it('rejects a split file outside the root', async () => {
    const path = await config('split-file', { datasets: [{ name: 'tiny', format: 'coop', root: 'tiny', splitFile: 'split_zhou_Pets.json' }] });
    const result = await run('check', '--config', path);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`datasets.0.splitFile: Split file ${join(folder, 'tiny', 'split_zhou_Pets.json')} not found.`);
    expect(result.stderr).toContain(`    ${join(folder, 'tiny', 'split_zhou_Tiny.json')}\n    Set splitFile to one of them.`);
  });

  it('loads no backbone for a missing data set', async () => {
    const path = await config('missing-root', { datasets: [{ name: 'tiny', format: 'coop', root: 'absent' }] });
    const result = await run('check', '--config', path);
    expect(result.stderr).toContain('datasets.0.root: Data set folder');
    expect(result.stdout).not.toContain('source:');
  });

  it('reports six mistakes in one run', async () => {
    const path = await config('six-mistakes', {
      datasets: [{ name: 'tiny', format: 'coop', root: 'absent' }],
      modules: [{ method: 'tip-adaptor' }, { method: 'clip-adapter', options: { reduction: 0 } }, { method: 'coop', training: { epoch: 3 } }],
      prices: { perLabeledExample: 10 },
      shots: [0],
    });
    const result = await run('check', '--config', path);
    const problems = result.stderr.split('\n').filter((line) => /^ {2}\S/.test(line));
    // In the order of the file, whose fields writeTinyConfig writes before the fields given here.
    expect(problems.map((line) => line.trim().split(':')[0])).toEqual([
      'datasets.0.root',
      'shots.0',
      'modules.0.method',
      'modules.1.options.reduction',
      'modules.2.training.epoch',
      'prices.perLabeledExample',
    ]);
  });

  it('gives a misspelt built-in no plugin note', async () => {
    const path = await config('built-in-typo', { modules: [{ method: 'tip-adaptor' }] });
    const result = await run('check', '--config', path);
    expect(result.stderr).toContain('Did you mean "tip-adapter"?');
    expect(result.stderr).not.toContain('plugins');
  });
});

describe('check --module', () => {
  it('hints --plugins for a custom method', async () => {
    const result = await run('check', '--module', join(folder, 'custom'), '--target', join(folder, 'target'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Unknown tuning method "class-bias".');
    expect(result.stderr).toContain('If "class-bias" is a custom method, pass the file that registers it with --plugins FILE.');
  });

  it('lists no wrapper method', async () => {
    const result = await run('check', '--module', join(folder, 'custom'), '--target', join(folder, 'target'));
    expect(result.stderr).not.toContain('bridged');
  });

  it('names the plugins it loaded', async () => {
    const result = await run('check', '--module', join(folder, 'custom'), '--target', join(folder, 'target'), '--plugins', join(folder, 'empty.mjs'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`Plugins loaded: ${join(folder, 'empty.mjs')} (registered no new method or backbone). Pass the file that registers "class-bias" with --plugins FILE.`);
  });
});
