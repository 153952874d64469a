import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openaiClipPreprocess } from '../src/backbones/preprocess.js';
import {
  coopDatasets,
  coopTemplate,
  DatasetError,
  findCoopDataset,
  ImageCache,
  loadImageFolder,
  mapLimit,
  unsafePathReason,
  type Dataset,
  type DatasetProblem,
} from '../src/data/index.js';
import { silentLogger } from '../src/runtime/logger.js';

let folder: string;
let count = 0;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-compat-data-folder-'));
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

async function writePng(path: string, grey: number): Promise<void> {
  await sharp(Buffer.alloc(6 * 5 * 3, grey), { raw: { width: 6, height: 5, channels: 3 } }).png().toFile(path);
}

/** Creates `<base>/<class>/img<i>.png` for each class and image count; returns the folder. */
async function writeFolder(classes: Record<string, number>, base = join(folder, `folder-${count++}`)): Promise<string> {
  for (const [name, images] of Object.entries(classes)) {
    await mkdir(join(base, name), { recursive: true });
    for (let i = 0; i < images; i++) await writePng(join(base, name, `img${i}.png`), 20 * i);
  }
  return base;
}

async function problemOf(promise: Promise<unknown>): Promise<DatasetProblem> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof DatasetError)) throw new Error(`expected a DatasetError, got ${String(error)}`);
  return error.problem;
}

const allPaths = (dataset: Dataset): string[] => [...dataset.train.paths, ...dataset.val.paths, ...dataset.test.paths];

describe('loadImageFolder', () => {
  let root: string;
  let dataset: Dataset;

  beforeAll(async () => {
    root = await writeFolder({ golden_retriever: 10, cat: 10, '.hidden': 3 });
    await writeFile(join(root, 'cat', 'notes.txt'), 'not an image');
    await writeFile(join(root, 'cat', 'upper.PNG'), await sharp(join(root, 'cat', 'img0.png')).png().toBuffer());
    dataset = await loadImageFolder({ root, logger: silentLogger });
  });

  it('sorts class folders', () => {
    expect(dataset.rawClassNames).toEqual(['cat', 'golden_retriever']);
  });

  it('replaces underscores in prompt names', () => {
    expect(dataset.classNames).toEqual(['cat', 'golden retriever']);
  });

  it('names data set after folder', () => {
    expect(dataset.train.id).toBe(`${dataset.name}/train`);
  });

  it('splits by default fractions', () => {
    // cat has 11 images: round(5.5) = 6 train (half to even), round(2.2) = 2 val and 3 test. golden_retriever has 5, 2 and 3.
    expect([dataset.train.size, dataset.val.size, dataset.test.size]).toEqual([11, 4, 6]);
  });

  it('keeps every image once', () => {
    expect(new Set(allPaths(dataset)).size).toBe(21);
  });

  it('skips files without image extension', () => {
    expect(allPaths(dataset).some((path) => path.endsWith('.txt'))).toBe(false);
  });

  it('matches extensions ignoring case', () => {
    expect(allPaths(dataset)).toContain(join(root, 'cat', 'upper.PNG'));
  });

  it('labels images by folder', () => {
    const labels = Array.from(dataset.test.labels);
    const folders = dataset.test.paths.map((path) => (path.includes('golden_retriever') ? 1 : 0));
    expect(labels).toEqual(folders);
  });

  it('uses default template', () => {
    expect(dataset.template).toBe('a photo of a {}.');
  });

  it('repeats split for same seed', async () => {
    const again = await loadImageFolder({ root, logger: silentLogger });
    expect(again.test.paths).toEqual(dataset.test.paths);
  });

  it('changes split for other seed', async () => {
    const other = await loadImageFolder({ root, seed: 1, logger: silentLogger });
    expect(other.test.paths).not.toEqual(dataset.test.paths);
  });

  it('takes fractions option', async () => {
    const halves = await loadImageFolder({ root, fractions: { train: 0.5, val: 0, test: 0.5 }, logger: silentLogger });
    expect([halves.train.size, halves.val.size, halves.test.size]).toEqual([11, 0, 10]);
  });

  it('loads images at call-time size', async () => {
    const before = tf.memory().numTensors;
    const batch = await dataset.test.forBackbone(openaiClipPreprocess(224)).images([0, 1, 2], 4);
    const shape = batch.shape;
    batch.dispose();
    expect(shape).toEqual([3, 4, 4, 3]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('loadImageFolder options', () => {
  it('uses CoOp template for standard name', async () => {
    const root = await writeFolder({ Forest: 4, River: 4 });
    const dataset = await loadImageFolder({ root, name: 'EuroSAT', logger: silentLogger });
    expect(dataset.template).toBe('a centered satellite photo of {}.');
  });

  it('takes template option', async () => {
    const root = await writeFolder({ a: 4, b: 4 });
    const dataset = await loadImageFolder({ root, template: 'a sketch of a {}.', logger: silentLogger });
    expect(dataset.template).toBe('a sketch of a {}.');
  });

  it('takes extensions option', async () => {
    const root = await writeFolder({ a: 4, b: 4 });
    await writeFile(join(root, 'a', 'extra.img'), await sharp(join(root, 'a', 'img0.png')).png().toBuffer());
    const dataset = await loadImageFolder({ root, extensions: ['png', '.img'], fractions: { train: 0.5, val: 0, test: 0.5 }, logger: silentLogger });
    expect(allPaths(dataset)).toContain(join(root, 'a', 'extra.img'));
  });

  it('reads test images from testRoot', async () => {
    const root = await writeFolder({ a: 5, b: 5 });
    const testRoot = await writeFolder({ a: 2, b: 3 });
    const dataset = await loadImageFolder({ root, testRoot, logger: silentLogger });
    expect(dataset.test.paths.every((path) => path.startsWith(testRoot))).toBe(true);
  });

  it('splits root into train and val with testRoot', async () => {
    const root = await writeFolder({ a: 5, b: 5 });
    const testRoot = await writeFolder({ a: 2, b: 3 });
    const dataset = await loadImageFolder({ root, testRoot, valFraction: 0.4, logger: silentLogger });
    expect([dataset.train.size, dataset.val.size, dataset.test.size]).toEqual([6, 4, 5]);
  });

  it('rejects fractions with testRoot', async () => {
    const root = await writeFolder({ a: 5 });
    const problem = await problemOf(loadImageFolder({ root, testRoot: root, fractions: { train: 0.5, val: 0.2, test: 0.3 }, logger: silentLogger }));
    expect(problem).toEqual({ code: 'invalid-option', option: 'fractions', value: { train: 0.5, val: 0.2, test: 0.3 } });
  });

  it('rejects fractions not summing to one', async () => {
    const root = await writeFolder({ a: 5 });
    const problem = await problemOf(loadImageFolder({ root, fractions: { train: 0.5, val: 0.2, test: 0.2 }, logger: silentLogger }));
    expect(problem.code).toBe('invalid-option');
  });

  it('rejects differing test class folders', async () => {
    const root = await writeFolder({ a: 5, b: 5 });
    const testRoot = await writeFolder({ a: 2, c: 2 });
    const problem = await problemOf(loadImageFolder({ root, testRoot, logger: silentLogger }));
    expect(problem).toEqual({ code: 'class-folders-differ', missing: ['b'], extra: ['c'] });
  });

  it('lists every empty class folder', async () => {
    const root = await writeFolder({ a: 3, b: 0, c: 0 });
    const problem = await problemOf(loadImageFolder({ root, logger: silentLogger }));
    expect(problem).toEqual({ code: 'class-folder-empty', folder: root, classes: ['b', 'c'] });
  });

  it('rejects class too small for test', async () => {
    // 3 images: round(1.5) = 2 train, round(0.6) = 1 val, none left for test.
    const root = await writeFolder({ a: 5, b: 3 });
    const problem = await problemOf(loadImageFolder({ root, logger: silentLogger }));
    expect(problem).toEqual({ code: 'class-too-small', className: 'b', images: 3, split: 'test' });
  });

  it('rejects class too small for train', async () => {
    // 1 image: round(0.5) = 0 train, since Python's round goes half to even.
    const root = await writeFolder({ a: 5, b: 1 });
    const problem = await problemOf(loadImageFolder({ root, logger: silentLogger }));
    expect(problem).toEqual({ code: 'class-too-small', className: 'b', images: 1, split: 'train' });
  });

  it('rejects folder without classes', async () => {
    const root = join(folder, `bare-${count++}`);
    await mkdir(root);
    expect((await problemOf(loadImageFolder({ root, logger: silentLogger }))).code).toBe('no-classes');
  });

  it('rejects missing root', async () => {
    const root = join(folder, 'does-not-exist');
    expect(await problemOf(loadImageFolder({ root, logger: silentLogger }))).toEqual({ code: 'folder-not-found', folder: root, option: 'root' });
  });
});

describe('CoOp catalog', () => {
  it('finds data set by alias', () => {
    expect(findCoopDataset('dtd')?.name).toBe('DescribableTextures');
  });

  it('finds data set by folder', () => {
    expect(findCoopDataset('oxford_flowers')?.name).toBe('OxfordFlowers');
  });

  it('returns Flowers102 template', () => {
    expect(coopTemplate('Flowers102')).toBe('a photo of a {}, a type of flower.');
  });

  it('returns nothing for unknown name', () => {
    expect(coopTemplate('MyPhotos')).toBeUndefined();
  });

  it('lists eleven data sets', () => {
    expect(coopDatasets.map((info) => info.name)).toHaveLength(11);
  });

  it('gives every template a placeholder', () => {
    expect(coopDatasets.filter((info) => !info.template.includes('{}'))).toEqual([]);
  });
});

describe('unsafePathReason', () => {
  const cases: Array<[string, string | undefined]> = [
    ['cat/a.png', undefined],
    ['a..b.png', undefined],
    ['../x.png', 'it has a ".." segment'],
    ['cat/../../x.png', 'it has a ".." segment'],
    ['cat\\..\\x.png', 'it has a ".." segment'],
    ['/etc/x.png', 'it is an absolute path'],
    ['\\\\server\\share\\x.png', 'it is an absolute path'],
    ['C:x.png', 'it is an absolute path'],
    ['', 'it is empty'],
    ['a\0.png', 'it contains a NUL character'],
  ];
  for (const [path, reason] of cases) {
    it(`checks ${JSON.stringify(path)}`, () => {
      expect(unsafePathReason(path)).toBe(reason);
    });
  }
});

describe('ImageCache', () => {
  it('evicts least recently used', () => {
    const cache = new ImageCache(2);
    cache.set('a', new Float32Array(1));
    cache.set('b', new Float32Array(1));
    cache.get('a');
    cache.set('c', new Float32Array(1));
    expect(cache.get('b')).toBeUndefined();
  });

  it('keeps recently used', () => {
    const cache = new ImageCache(2);
    cache.set('a', new Float32Array([5]));
    cache.set('b', new Float32Array(1));
    cache.get('a');
    cache.set('c', new Float32Array(1));
    expect(cache.get('a')?.[0]).toBe(5);
  });

  it('stays within capacity', () => {
    const cache = new ImageCache(3);
    for (let i = 0; i < 10; i++) cache.set(String(i), new Float32Array(1));
    expect(cache.size).toBe(3);
  });

  it('stores nothing at capacity zero', () => {
    const cache = new ImageCache(0);
    cache.set('a', new Float32Array(1));
    expect(cache.size).toBe(0);
  });
});

describe('mapLimit', () => {
  it('keeps item order', async () => {
    const results = await mapLimit([30, 10, 20], 3, async (ms) => {
      await new Promise((done) => setTimeout(done, ms));
      return ms;
    });
    expect(results).toEqual([30, 10, 20]);
  });

  it('runs at most limit at once', async () => {
    let running = 0;
    let peak = 0;
    await mapLimit(Array.from({ length: 12 }, (_, i) => i), 3, async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((done) => setTimeout(done, 2));
      running--;
    });
    expect(peak).toBe(3);
  });

  it('starts nothing after failure', async () => {
    const started: number[] = [];
    const run = mapLimit([0, 1, 2, 3, 4], 1, async (i) => {
      started.push(i);
      if (i === 1) throw new Error('boom');
    });
    await expect(run).rejects.toThrow('boom');
    expect(started).toEqual([0, 1]);
  });
});
