import * as tf from '@tensorflow/tfjs-core';
import { cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCoopSplit } from '../src/data/index.js';
import { checkEvaluateConfig, ConfigError } from '../src/pipeline/config.js';
import { writeTinyCoopDataset } from './fixtures/tiny-dataset.js';
import { tinyClassNames } from './fixtures/tiny-task.js';

let folder: string;
let configFile: string;

const tiny = { name: 'tiny', format: 'coop', root: 'tiny' };

/** Builds a config in the test folder with the tiny data set and `fields` on top. */
function config(fields: Record<string, unknown>): Record<string, unknown> {
  return { source: 'mini-clip-v1', target: 'mini-clip-v2', datasets: [tiny], modules: [{ method: 'coop' }], output: 'out', ...fields };
}

/** Returns the problems of the ConfigError that checking `value` raises, or [] when it passes. */
async function problemsOf(value: unknown): Promise<readonly string[]> {
  try {
    await checkEvaluateConfig(value, configFile);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-compat-config-files-'));
  configFile = join(folder, 'c.json');
  await writeTinyCoopDataset(join(folder, 'tiny'), tinyClassNames);

  // The same images as an ImageFolder data set: one sub-folder per class.
  for (const className of tinyClassNames) {
    await mkdir(join(folder, 'classes', className), { recursive: true });
    for (const file of (await readdir(join(folder, 'tiny', 'images'))).filter((name) => name.startsWith(`${className}_`))) {
      await cp(join(folder, 'tiny', 'images', file), join(folder, 'classes', className, file));
    }
  }

  // A copy of the CoOp data set with one image removed.
  await cp(join(folder, 'tiny'), join(folder, 'tiny-missing'), { recursive: true });
  await rm(join(folder, 'tiny-missing', 'images', 'dog_test_1.png'));
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('checkEvaluateConfig', () => {
  it('accepts present data sets', async () => {
    const checked = await checkEvaluateConfig(config({ datasets: [tiny, { name: 'classes', format: 'imagefolder', root: 'classes', testFraction: 0.5 }] }), configFile);
    expect(checked.datasets.map((d) => d.root)).toEqual([join(folder, 'tiny'), join(folder, 'classes')]);
  });

  it('creates no tensors', async () => {
    const before = tf.memory().numTensors;
    await checkEvaluateConfig(config({}), configFile);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('lists the split files for a wrong splitFile', async () => {
    const problems = await problemsOf(config({ datasets: [{ ...tiny, splitFile: 'split_zhou_Tiny2.json' }] }));
    expect(problems[0]).toMatch(/^datasets\.0\.splitFile: Split file .*split_zhou_Tiny2\.json not found\.[^]*split_zhou_Tiny\.json\nSet splitFile to one of them\.$/);
  });

  it("repeats the loader's message", async () => {
    const loaderError = await loadCoopSplit({ root: join(folder, 'tiny'), splitFile: 'split_zhou_Tiny2.json' }).catch((error: Error) => error);
    const problems = await problemsOf(config({ datasets: [{ ...tiny, splitFile: 'split_zhou_Tiny2.json' }] }));
    expect(problems).toEqual([`datasets.0.splitFile: ${(loaderError as Error).message}`]);
  });

  it('rejects a missing root', async () => {
    const problems = await problemsOf(config({ datasets: [{ ...tiny, root: 'absent' }] }));
    expect(problems).toEqual([`datasets.0.root: Data set folder ${join(folder, 'absent')} not found; set root to the folder that contains the split file.`]);
  });

  it('rejects a missing image folder', async () => {
    const problems = await problemsOf(config({ datasets: [{ ...tiny, imageDir: 'pictures' }] }));
    expect(problems[0]).toMatch(/^datasets\.0\.imageDir: Image folder .*pictures of tiny not found\./);
  });

  it('rejects a missing image', async () => {
    const problems = await problemsOf(config({ datasets: [{ ...tiny, name: 'tiny-missing', root: 'tiny-missing' }] }));
    expect(problems[0]).toMatch(/^datasets\.0: 1 of 24 images of tiny-missing are missing or unreadable:\n {2}test\[3\] .*dog_test_1\.png: missing/);
  });

  it('rejects a missing class folder root', async () => {
    const problems = await problemsOf(config({ datasets: [{ name: 'classes', format: 'imagefolder', root: 'no-classes' }] }));
    expect(problems[0]).toMatch(/^datasets\.0\.root: Image folder .*no-classes not found/);
  });

  it('rejects fractions above 1', async () => {
    const problems = await problemsOf(config({ datasets: [{ name: 'classes', format: 'imagefolder', root: 'classes', testFraction: 0.8, valFraction: 0.4 }] }));
    expect(problems[0]).toMatch(/^datasets\.0\.testFraction: fractions is /);
  });

  it('rejects a template without a slot', async () => {
    const problems = await problemsOf(config({ datasets: [{ ...tiny, template: 'a photo.' }] }));
    expect(problems[0]).toMatch(/^datasets\.0\.template: Prompt template "a photo\." has no "\{\}"/);
  });

  it('checks every data set', async () => {
    const problems = await problemsOf(config({ datasets: [{ ...tiny, name: 'a', root: 'absent-a' }, { ...tiny, name: 'b', root: 'absent-b' }] }));
    expect(problems.map((problem) => problem.split(':')[0])).toEqual(['datasets.0.root', 'datasets.1.root']);
  });

  it('rejects a missing unlabeled folder', async () => {
    const problems = await problemsOf(config({ forecast: true, unlabeled: { folder: 'production' } }));
    expect(problems).toEqual([`unlabeled.folder: Unlabeled image folder ${join(folder, 'production')} not found; give a folder that contains image files.`]);
  });

  it('skips an unlabeled folder nothing reads', async () => {
    expect(await problemsOf(config({ unlabeled: { folder: 'production' } }))).toEqual([]);
  });

  it('reports field and file problems together', async () => {
    const problems = await problemsOf(config({ datasets: [{ ...tiny, root: 'absent' }], forcast: true }));
    expect(problems.map((problem) => problem.split(':')[0])).toEqual(['datasets.0.root', 'forcast']);
  });
});
