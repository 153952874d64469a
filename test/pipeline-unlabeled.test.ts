import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetError, loadUnlabeledImages } from '../src/data/index.js';
import { ConfigError, decodeEvaluateConfig } from '../src/pipeline/config.js';
import { runEvaluation } from '../src/pipeline/run.js';
import type { ResultsFile } from '../src/pipeline/results.js';
import { writeTinyClip } from './fixtures/tiny-clip.js';
import { writeTinyCoopDataset } from './fixtures/tiny-dataset.js';
import { tinyClassNames } from './fixtures/tiny-task.js';

let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-compat-unlabeled-'));
  await writeTinyClip('hf', { folder: join(folder, 'source'), seed: 1 });
  await writeTinyClip('hf', { folder: join(folder, 'target'), seed: 2 });
  await writeTinyCoopDataset(join(folder, 'tiny'), tinyClassNames);
  // An unlabeled folder with a nested folder, a hidden file and a file that is not an image.
  await mkdir(join(folder, 'pool', 'day2'), { recursive: true });
  await cp(join(folder, 'tiny', 'images'), join(folder, 'pool', 'day2'), { recursive: true });
  await writeFile(join(folder, 'pool', 'notes.txt'), 'not an image');
  await writeFile(join(folder, 'pool', '.hidden.png'), 'not read');
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

const base = {
  source: { folder: 'source' },
  target: { folder: 'target' },
  datasets: [{ name: 'tiny', format: 'coop', root: 'tiny' }],
  modules: [{ method: 'clip-adapter', training: { epochs: 2, batchSize: 4 } }],
  shots: [2],
  bootstrap: 0,
  output: 'out',
};

function configFile(name: string): string {
  return join(folder, `${name}.json`);
}

describe('loadUnlabeledImages', () => {
  it('finds images in sub-folders', async () => {
    const split = await loadUnlabeledImages({ folder: join(folder, 'pool') });
    expect(split.size).toBe(tinyClassNames.length * 6);
  });

  it('skips hidden files', async () => {
    const split = await loadUnlabeledImages({ folder: join(folder, 'pool') });
    expect(split.paths.some((path) => path.includes('.hidden'))).toBe(false);
  });

  it('has no labels', async () => {
    const split = await loadUnlabeledImages({ folder: join(folder, 'pool') });
    expect(new Set(split.labels)).toEqual(new Set([-1]));
  });

  it('names a missing folder', async () => {
    await expect(loadUnlabeledImages({ folder: join(folder, 'nowhere') })).rejects.toThrow(/nowhere not found/);
  });

  it('rejects a folder without images', async () => {
    const empty = join(folder, 'empty');
    await mkdir(empty, { recursive: true });
    await writeFile(join(empty, 'a.txt'), 'x');
    const error = await loadUnlabeledImages({ folder: empty }).catch((e: unknown) => e);
    expect((error as DatasetError).code).toBe('no-images');
  });
});

describe('config unlabeled settings', () => {
  it('resolves the folder against the config', () => {
    const config = decodeEvaluateConfig({ ...base, unlabeled: { folder: 'pool' }, forecast: true }, configFile('a'));
    expect(config.unlabeled).toEqual({ folder: join(folder, 'pool') });
  });

  it('keeps the folder extensions', () => {
    const config = decodeEvaluateConfig({ ...base, unlabeled: { folder: 'pool', extensions: ['.png'] }, forecast: true }, configFile('a'));
    expect(config.unlabeled).toEqual({ folder: join(folder, 'pool'), extensions: ['.png'] });
  });

  it('keeps the training pool', () => {
    const config = decodeEvaluateConfig({ ...base, unlabeled: 'train-split', migrate: ['bridge'] }, configFile('a'));
    expect(config.unlabeled).toBe('train-split');
  });

  it('names an unknown migration', () => {
    expect(() => decodeEvaluateConfig({ ...base, migrate: ['bridge', 'align'] }, configFile('a'))).toThrow(/migrate\.1: got "align"/);
  });

  it('rejects a repeated migration', () => {
    expect(() => decodeEvaluateConfig({ ...base, migrate: ['distill', 'distill'] }, configFile('a'))).toThrow(ConfigError);
  });

  it('rejects a zero distillation temperature', () => {
    expect(() => decodeEvaluateConfig({ ...base, migration: { temperature: 0 } }, configFile('a'))).toThrow(/migration\.temperature: got 0/);
  });

  it('rejects a class cap of 1', () => {
    expect(() => decodeEvaluateConfig({ ...base, forecast: { maxClasses: 1 } }, configFile('a'))).toThrow(/forecast.*maxClasses: got 1/);
  });

  it('rejects a zero image cap', () => {
    expect(() => decodeEvaluateConfig({ ...base, forecast: { maxImages: 0 } }, configFile('a'))).toThrow(/forecast.*maxImages: got 0/);
  });
});

describe('runEvaluation with unlabeled images', () => {
  let fromPool: ResultsFile;
  let fromFolder: ResultsFile;
  let tensorsBefore: number;
  let tensorsAfter: number;

  beforeAll(async () => {
    tensorsBefore = tf.memory().numTensors;
    fromPool = await runEvaluation(decodeEvaluateConfig({ ...base, forecast: true, migrate: ['bridge'], output: 'out-pool' }, configFile('pool')));
    fromFolder = await runEvaluation(
      decodeEvaluateConfig(
        { ...base, unlabeled: { folder: 'pool' }, forecast: { maxImages: 8 }, migrate: ['distill'], migration: { maxImages: 10 }, output: 'out-folder' },
        configFile('folder'),
      ),
    );
    tensorsAfter = tf.memory().numTensors;
  }, 120_000);

  it('records a forecast per cell', () => {
    expect(fromPool.cells[0]?.forecast?.predictedRetention).toBeTypeOf('number');
  });

  it('adds the bridged condition', () => {
    expect(Object.keys(fromPool.cells[0]?.conditions ?? {})).toContain('target-bridged');
  });

  it('times each condition', () => {
    expect(fromPool.cells[0]?.conditions['target-transplanted']?.seconds).toBeGreaterThan(0);
  });

  it('forecasts from the folder', () => {
    expect(fromFolder.cells[0]?.forecast?.evidence.images).toBe(8);
  });

  it('distills from the folder', () => {
    expect(fromFolder.cells[0]?.migrations?.[0]?.unlabeledImages).toBe(10);
  });

  it('adds the distilled condition', () => {
    expect(Object.keys(fromFolder.cells[0]?.conditions ?? {})).toContain('target-distilled');
  });

  it('runs only the migrations asked for', () => {
    expect(fromFolder.cells[0]?.migrations?.map((m) => m.method)).toEqual(['distill']);
  });

  it('frees its tensors', () => {
    expect(tensorsAfter).toBe(tensorsBefore);
  });

  it('rejects a rerun with other migrations', async () => {
    const changed = decodeEvaluateConfig({ ...base, forecast: true, migrate: ['distill'], output: 'out-pool' }, configFile('pool'));
    await expect(runEvaluation(changed)).rejects.toThrow(/other backbones or settings \(settings\.migrate\[0\]: "bridge" → "distill"\)/);
  });

  it('rejects a rerun after the split file was reordered', async () => {
    const splitFile = join(folder, 'tiny', 'split_zhou_Tiny.json');
    const original = await readFile(splitFile, 'utf8');
    const split = JSON.parse(original) as { test: unknown[] };
    split.test.reverse();
    await writeFile(splitFile, JSON.stringify(split));
    try {
      const same = decodeEvaluateConfig({ ...base, forecast: true, migrate: ['bridge'], output: 'out-pool' }, configFile('pool'));
      await expect(runEvaluation(same)).rejects.toThrow(/settings\.datasets\[0\]\.labels: "[0-9a-f]{8}" → "[0-9a-f]{8}"/);
    } finally {
      await writeFile(splitFile, original);
    }
  });

  it('rejects a rerun with another template', async () => {
    const datasets = base.datasets.map((entry) => ({ ...entry, template: 'an emoji of {}.' }));
    const changed = decodeEvaluateConfig({ ...base, datasets, forecast: true, migrate: ['bridge'], output: 'out-pool' }, configFile('pool'));
    await expect(runEvaluation(changed)).rejects.toThrow(/settings\.datasets\[0\]\.entry\.template: \(absent\) → "an emoji of \{\}\."/);
  });
});
