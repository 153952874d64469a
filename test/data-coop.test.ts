import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openaiClipPreprocess, type PreprocessConfig } from '../src/backbones/preprocess.js';
import { DatasetError, loadCoopSplit, type Dataset, type DatasetProblem } from '../src/data/index.js';
import { silentLogger } from '../src/runtime/logger.js';
import { createRandom } from '../src/runtime/random.js';

type Rgb = readonly [number, number, number];

let folder: string;
let count = 0;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-compat-data-coop-'));
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** Writes a PNG whose pixel (x, y) has colour `colour(x, y)`. */
async function writePng(path: string, width: number, height: number, colour: (x: number, y: number) => Rgb): Promise<void> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(colour(x, y), (y * width + x) * 3);
  await mkdir(join(path, '..'), { recursive: true });
  await sharp(data, { raw: { width, height, channels: 3 } }).png().toFile(path);
}

/** A colour pattern that differs from pixel to pixel, so crops and flips change the output. */
const pattern =
  (seed: number) =>
  (x: number, y: number): Rgb => [(x * 37 + y * 11 + seed * 50) % 256, (x * 5 + y * 61 + seed * 20) % 256, (x * y * 13 + seed) % 256];

type Entry = [string, number, string];

/** Colour of the solid image of class `label`. */
const solid = (label: number): Rgb => [40 + 100 * label, 200 - 80 * label, 90];

/** Creates a fresh data set folder with `images/` and `split_zhou_<name>.json`, and writes a solid PNG for each entry. */
async function writeDataset(name: string, split: Record<string, Entry[]>, options: { imageDir?: string; skip?: readonly string[] } = {}): Promise<string> {
  const root = join(folder, `set-${count++}`);
  const imageDir = join(root, options.imageDir ?? 'images');
  await mkdir(imageDir, { recursive: true });
  for (const entries of Object.values(split)) {
    for (const [path, label] of entries) {
      if (options.skip?.includes(path)) continue;
      await writePng(join(imageDir, path), 12, 10, () => solid(label));
    }
  }
  await writeFile(join(root, `split_zhou_${name}.json`), JSON.stringify(split));
  return root;
}

const tinySplit: Record<string, Entry[]> = {
  train: [
    ['dog/d0.png', 1, 'dog'],
    ['big_cat/c0.png', 0, 'big_cat'],
    ['big_cat/c1.png', 0, 'big_cat'],
    ['dog/d1.png', 1, 'dog'],
  ],
  val: [['dog/d2.png', 1, 'dog']],
  test: [
    ['big_cat/c2.png', 0, 'big_cat'],
    ['dog/d3.png', 1, 'dog'],
  ],
};

async function problemOf(promise: Promise<unknown>): Promise<DatasetProblem> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof DatasetError)) throw new Error(`expected a DatasetError, got ${String(error)}`);
  return error.problem;
}

async function messageOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return error instanceof Error ? error.message : String(error);
}

function normalized(config: Pick<PreprocessConfig, 'mean' | 'std'>, value: number, channel: number): number {
  return Math.fround((value / 255 - (config.mean[channel] as number)) / (config.std[channel] as number));
}

describe('loadCoopSplit', () => {
  let root: string;
  let dataset: Dataset;

  beforeAll(async () => {
    root = await writeDataset('Tiny', tinySplit);
    dataset = await loadCoopSplit({ root, logger: silentLogger });
  });

  it('names data set from split file', () => {
    expect(dataset.name).toBe('Tiny');
  });

  it('orders class names by label', () => {
    expect(dataset.rawClassNames).toEqual(['big_cat', 'dog']);
  });

  it('replaces underscores in prompt names', () => {
    expect(dataset.classNames).toEqual(['big cat', 'dog']);
  });

  it('keeps split sizes', () => {
    expect([dataset.train.size, dataset.val.size, dataset.test.size]).toEqual([4, 1, 2]);
  });

  it('keeps labels in file order', () => {
    expect(Array.from(dataset.train.labels)).toEqual([1, 0, 0, 1]);
  });

  it('resolves paths in image folder', () => {
    expect(dataset.test.paths[0]).toBe(join(root, 'images', 'big_cat', 'c2.png'));
  });

  it('gives splits stable ids', () => {
    expect([dataset.train.id, dataset.val.id, dataset.test.id]).toEqual(['Tiny/train', 'Tiny/val', 'Tiny/test']);
  });

  it('source carries split id', () => {
    expect(dataset.test.forBackbone(openaiClipPreprocess(8)).id).toBe('Tiny/test');
  });

  it('uses default template', () => {
    expect(dataset.template).toBe('a photo of a {}.');
  });

  it('takes template option', async () => {
    const custom = await loadCoopSplit({ root, template: 'a blurry photo of a {}.', logger: silentLogger });
    expect(custom.template).toBe('a blurry photo of a {}.');
  });

  it('rejects template without placeholder', async () => {
    expect((await problemOf(loadCoopSplit({ root, template: 'a photo', logger: silentLogger }))).code).toBe('invalid-option');
  });

  it('takes name option', async () => {
    const named = await loadCoopSplit({ root, name: 'mini', logger: silentLogger });
    expect(named.test.id).toBe('mini/test');
  });
});

describe('loadCoopSplit standard data sets', () => {
  it('uses CoOp template for OxfordPets', async () => {
    const root = await writeDataset('OxfordPets', tinySplit);
    const dataset = await loadCoopSplit({ root, logger: silentLogger });
    expect(dataset.template).toBe('a photo of a {}, a type of pet.');
  });

  it('uses CoOp image folder for OxfordFlowers', async () => {
    const root = await writeDataset('OxfordFlowers', tinySplit, { imageDir: 'jpg' });
    const dataset = await loadCoopSplit({ root, logger: silentLogger });
    expect(dataset.train.paths[0]).toBe(join(root, 'jpg', 'dog', 'd0.png'));
  });

  it('uses data set folder for StanfordCars', async () => {
    const root = await writeDataset('StanfordCars', tinySplit, { imageDir: '.' });
    const dataset = await loadCoopSplit({ root, logger: silentLogger });
    expect(dataset.train.paths[0]).toBe(join(root, 'dog', 'd0.png'));
  });

  it('takes imageDir option', async () => {
    const root = await writeDataset('Tiny', tinySplit, { imageDir: 'pictures' });
    const dataset = await loadCoopSplit({ root, imageDir: 'pictures', logger: silentLogger });
    expect(dataset.train.paths[0]).toBe(join(root, 'pictures', 'dog', 'd0.png'));
  });

  it('reports missing image folder', async () => {
    const root = await writeDataset('Tiny', tinySplit, { imageDir: 'pictures' });
    const problem = await problemOf(loadCoopSplit({ root, logger: silentLogger }));
    expect(problem).toEqual({ code: 'folder-not-found', folder: join(root, 'images'), option: 'imageDir' });
  });
});

describe('loadCoopSplit split files', () => {
  it('lists split files when named one is missing', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    const problem = await problemOf(loadCoopSplit({ root, splitFile: 'split_zhou_Other.json', logger: silentLogger }));
    expect(problem).toEqual({ code: 'split-file-not-found', file: join(root, 'split_zhou_Other.json'), available: [join(root, 'split_zhou_Tiny.json')] });
  });

  it('names missing split file in message', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    const message = await messageOf(loadCoopSplit({ root, splitFile: 'split_zhou_Other.json', logger: silentLogger }));
    expect(message).toContain('split_zhou_Tiny.json');
  });

  it('reports folder without split file', async () => {
    const root = join(folder, `empty-${count++}`);
    await mkdir(root);
    expect((await problemOf(loadCoopSplit({ root, logger: silentLogger }))).code).toBe('split-file-not-found');
  });

  it('reports two split files', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    await writeFile(join(root, 'split_zhou_Copy.json'), JSON.stringify(tinySplit));
    const problem = await problemOf(loadCoopSplit({ root, logger: silentLogger }));
    expect(problem).toEqual({ code: 'split-file-ambiguous', folder: root, available: [join(root, 'split_zhou_Copy.json'), join(root, 'split_zhou_Tiny.json')] });
  });

  it('takes splitFile option', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    await writeFile(join(root, 'split_zhou_Copy.json'), JSON.stringify({ ...tinySplit, val: [] }));
    const dataset = await loadCoopSplit({ root, splitFile: 'split_zhou_Copy.json', logger: silentLogger });
    expect(dataset.val.size).toBe(0);
  });

  it('reports malformed JSON', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    await writeFile(join(root, 'split_zhou_Tiny.json'), '{"train": [');
    expect((await problemOf(loadCoopSplit({ root, logger: silentLogger }))).code).toBe('split-file-invalid');
  });

  it('reports missing val list', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    await writeFile(join(root, 'split_zhou_Tiny.json'), JSON.stringify({ train: tinySplit.train, test: tinySplit.test }));
    const message = await messageOf(loadCoopSplit({ root, logger: silentLogger }));
    expect(message).toContain('"val" is missing');
  });

  it('reports entry of wrong shape', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    const bad = { ...tinySplit, test: [tinySplit.test?.[0], ['dog/d3.png', '1', 'dog']] };
    await writeFile(join(root, 'split_zhou_Tiny.json'), JSON.stringify(bad));
    const problem = await problemOf(loadCoopSplit({ root, logger: silentLogger }));
    expect(problem).toEqual({ code: 'invalid-entry', file: join(root, 'split_zhou_Tiny.json'), split: 'test', index: 1, value: ['dog/d3.png', '1', 'dog'] });
  });

  it('reports negative label', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    await writeFile(join(root, 'split_zhou_Tiny.json'), JSON.stringify({ ...tinySplit, val: [['dog/d2.png', -1, 'dog']] }));
    expect((await problemOf(loadCoopSplit({ root, logger: silentLogger }))).code).toBe('invalid-entry');
  });

  it('reports label with two names', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    await writeFile(join(root, 'split_zhou_Tiny.json'), JSON.stringify({ ...tinySplit, val: [['dog/d2.png', 1, 'puppy']] }));
    const problem = await problemOf(loadCoopSplit({ root, logger: silentLogger }));
    expect(problem).toEqual({ code: 'label-conflict', label: 1, names: ['dog', 'puppy'] });
  });

  it('reports gap in labels', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    await writeFile(join(root, 'split_zhou_Tiny.json'), JSON.stringify({ ...tinySplit, val: [['dog/d2.png', 3, 'wolf']] }));
    const problem = await problemOf(loadCoopSplit({ root, logger: silentLogger }));
    expect(problem).toEqual({ code: 'labels-not-contiguous', missing: [2], classes: 4 });
  });
});

describe('loadCoopSplit image paths', () => {
  for (const path of ['../x.png', '/etc/x.png', 'dog/../../x.png', 'C:\\x.png', '..\\x.png', '']) {
    it(`rejects ${JSON.stringify(path)}`, async () => {
      const root = await writeDataset('Tiny', tinySplit);
      const file = join(root, 'split_zhou_Tiny.json');
      await writeFile(file, JSON.stringify({ ...tinySplit, val: [['dog/d2.png', 1, 'dog'], [path, 1, 'dog']] }));
      const problem = await problemOf(loadCoopSplit({ root, logger: silentLogger }));
      expect(problem).toEqual({ code: 'path-outside-root', file, split: 'val', index: 1, path });
    });
  }

  it('names entry and file in message', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    await writeFile(join(root, 'split_zhou_Tiny.json'), JSON.stringify({ ...tinySplit, val: [['../x.png', 1, 'dog']] }));
    const message = await messageOf(loadCoopSplit({ root, logger: silentLogger }));
    expect(message).toContain(`Entry val[0] of ${join(root, 'split_zhou_Tiny.json')}`);
  });

  it('accepts dots inside names', async () => {
    const split = { ...tinySplit, val: [['dog/..d2..png', 1, 'dog'] as Entry] };
    const root = await writeDataset('Tiny', split);
    const dataset = await loadCoopSplit({ root, logger: silentLogger });
    expect(dataset.val.paths[0]).toBe(join(root, 'images', 'dog', '..d2..png'));
  });
});

describe('loadCoopSplit image files', () => {
  it('lists every missing image in one error', async () => {
    const root = await writeDataset('Tiny', tinySplit, { skip: ['dog/d0.png', 'dog/d2.png', 'big_cat/c2.png'] });
    const problem = await problemOf(loadCoopSplit({ root, logger: silentLogger }));
    expect(problem.code === 'images-unavailable' ? problem.files.map((f) => `${f.split}[${f.index}] ${f.reason}`) : problem).toEqual([
      'train[0] missing',
      'val[0] missing',
      'test[0] missing',
    ]);
  });

  it('names missing images in message', async () => {
    const root = await writeDataset('Tiny', tinySplit, { skip: ['dog/d0.png', 'dog/d2.png'] });
    const message = await messageOf(loadCoopSplit({ root, logger: silentLogger }));
    expect(message).toContain(join(root, 'images', 'dog', 'd2.png'));
  });

  it('reports folder in place of image', async () => {
    const root = await writeDataset('Tiny', tinySplit, { skip: ['dog/d2.png'] });
    await mkdir(join(root, 'images', 'dog', 'd2.png'));
    const problem = await problemOf(loadCoopSplit({ root, logger: silentLogger }));
    expect(problem.code === 'images-unavailable' ? problem.files[0]?.reason : problem).toBe('not-a-file');
  });

  it('skips file check when asked', async () => {
    const root = await writeDataset('Tiny', tinySplit, { skip: ['dog/d2.png'] });
    const dataset = await loadCoopSplit({ root, checkFiles: false, logger: silentLogger });
    expect(dataset.val.size).toBe(1);
  });

  it('names corrupt image at load', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    const corrupt = join(root, 'images', 'dog', 'd3.png');
    await writeFile(corrupt, 'not a png');
    const dataset = await loadCoopSplit({ root, logger: silentLogger });
    const source = dataset.test.forBackbone(openaiClipPreprocess(8));
    const problem = await problemOf(source.images([0, 1], 8));
    expect(problem).toEqual({ code: 'image-load-failed', source: 'Tiny/test', index: 1, path: corrupt });
  });

  it('frees no tensors after corrupt image', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    await writeFile(join(root, 'images', 'dog', 'd3.png'), 'not a png');
    const dataset = await loadCoopSplit({ root, logger: silentLogger });
    const before = tf.memory().numTensors;
    await dataset.test.forBackbone(openaiClipPreprocess(8)).images([0, 1], 8).catch(() => undefined);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('FileImageSource', () => {
  let root: string;
  let dataset: Dataset;
  const clip = openaiClipPreprocess(224);
  const other: PreprocessConfig = { imageSize: 224, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], interpolation: 'bilinear' };

  beforeAll(async () => {
    root = await writeDataset('Tiny', tinySplit);
    // Patterned images for the augmentation tests, one per train entry.
    for (const [i, [path]] of (tinySplit.train ?? []).entries()) await writePng(join(root, 'images', path), 24, 20, pattern(i));
    dataset = await loadCoopSplit({ root, logger: silentLogger });
  });

  it('returns NHWC batch shape', async () => {
    const batch = await dataset.test.forBackbone(clip).images([1, 0], 8);
    expect(batch.shape).toEqual([2, 8, 8, 3]);
    batch.dispose();
  });

  it('normalizes with backbone mean and std', async () => {
    const batch = await dataset.test.forBackbone(clip).images([1, 0], 8);
    const values = await batch.data();
    batch.dispose();
    const expected = [0, 1, 2].map((c) => normalized(clip, solid(1)[c] as number, c));
    expect(Array.from(values.slice(0, 3))).toEqual(expected);
  });

  it('keeps batch order', async () => {
    const batch = await dataset.test.forBackbone(clip).images([1, 0], 8);
    const values = await batch.data();
    batch.dispose();
    const expected = [0, 1, 2].map((c) => normalized(clip, solid(0)[c] as number, c));
    expect(Array.from(values.slice(8 * 8 * 3, 8 * 8 * 3 + 3))).toEqual(expected);
  });

  it('serves two backbones from one split', async () => {
    const batch = await dataset.test.forBackbone(other).images([0], 4);
    const values = await batch.data();
    batch.dispose();
    const expected = [0, 1, 2].map((c) => normalized(other, solid(0)[c] as number, c));
    expect(Array.from(values.slice(0, 3))).toEqual(expected);
  });

  it('returns empty batch', async () => {
    const batch = await dataset.test.forBackbone(clip).images([], 8);
    expect(batch.shape).toEqual([0, 8, 8, 3]);
    batch.dispose();
  });

  it('rejects index out of range', async () => {
    const problem = await problemOf(dataset.test.forBackbone(clip).images([2], 8));
    expect(problem).toEqual({ code: 'index-out-of-range', source: 'Tiny/test', index: 2, size: 2 });
  });

  it('rejects fractional image size', async () => {
    expect((await problemOf(dataset.test.forBackbone(clip).images([0], 7.5))).code).toBe('invalid-option');
  });

  it('augments example the same in any batch', async () => {
    const source = dataset.train.forBackbone(clip);
    const pair = await source.images([3, 1], 8, createRandom(7));
    const alone = await source.images([1], 8, createRandom(7));
    const second = (await pair.data()).subarray(8 * 8 * 3);
    const single = await alone.data();
    tf.dispose([pair, alone]);
    expect(Array.from(second)).toEqual(Array.from(single));
  });

  it('augments the same for same seed', async () => {
    const source = dataset.train.forBackbone(clip);
    const first = await source.images([0, 2], 8, createRandom(3));
    const again = await source.images([0, 2], 8, createRandom(3));
    const firstValues = Array.from(await first.data());
    const againValues = Array.from(await again.data());
    tf.dispose([first, again]);
    expect(againValues).toEqual(firstValues);
  });

  it('augments differently for other seed', async () => {
    const source = dataset.train.forBackbone(clip);
    const first = await source.images([0, 2], 8, createRandom(3));
    const other = await source.images([0, 2], 8, createRandom(4));
    const firstValues = Array.from(await first.data());
    const otherValues = Array.from(await other.data());
    tf.dispose([first, other]);
    expect(otherValues).not.toEqual(firstValues);
  });

  it('leaves tensor count unchanged', async () => {
    const source = dataset.train.forBackbone(clip);
    const before = tf.memory().numTensors;
    for (let epoch = 0; epoch < 2; epoch++) {
      const plain = await source.images([0, 1, 2, 3], 8);
      const augmented = await source.images([0, 1], 8, createRandom(epoch));
      tf.dispose([plain, augmented]);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('ImageSplit.subset', () => {
  let dataset: Dataset;

  beforeAll(async () => {
    dataset = await loadCoopSplit({ root: await writeDataset('Tiny', tinySplit), logger: silentLogger });
  });

  it('names subset id', () => {
    expect(dataset.train.subset([1, 3], '1shot-seed0').id).toBe('Tiny/train/1shot-seed0');
  });

  it('picks labels of indices', () => {
    expect(Array.from(dataset.train.subset([1, 3]).labels)).toEqual([0, 1]);
  });

  it('hashes indices into id', () => {
    expect(dataset.train.subset([1, 3]).id).not.toBe(dataset.train.subset([1, 2]).id);
  });

  it('rejects index out of range', () => {
    expect(() => dataset.train.subset([4])).toThrow(DatasetError);
  });

  it('loads subset images', async () => {
    const batch = await dataset.train.subset([1]).forBackbone(openaiClipPreprocess(8)).images([0], 4);
    const values = await batch.data();
    batch.dispose();
    expect(values[0]).toBe(normalized(openaiClipPreprocess(8), solid(0)[0], 0));
  });
});

describe('image cache', () => {
  it('serves cached image after file is gone', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    const dataset = await loadCoopSplit({ root, cacheSize: 4, logger: silentLogger });
    const source = dataset.val.forBackbone(openaiClipPreprocess(8));
    (await source.images([0], 8)).dispose();
    await rm(join(root, 'images', 'dog', 'd2.png'));
    const batch = await source.images([0], 8);
    expect(batch.shape).toEqual([1, 8, 8, 3]);
    batch.dispose();
  });

  it('shares cache across backbones of one preprocessing', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    const dataset = await loadCoopSplit({ root, cacheSize: 4, logger: silentLogger });
    (await dataset.val.forBackbone(openaiClipPreprocess(8)).images([0], 8)).dispose();
    await rm(join(root, 'images', 'dog', 'd2.png'));
    const batch = await dataset.val.forBackbone(openaiClipPreprocess(224)).images([0], 8);
    expect(batch.shape).toEqual([1, 8, 8, 3]);
    batch.dispose();
  });

  it('misses cache for other normalization', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    const dataset = await loadCoopSplit({ root, cacheSize: 4, logger: silentLogger });
    (await dataset.val.forBackbone(openaiClipPreprocess(8)).images([0], 8)).dispose();
    await rm(join(root, 'images', 'dog', 'd2.png'));
    const other: PreprocessConfig = { imageSize: 8, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], interpolation: 'bicubic' };
    expect((await problemOf(dataset.val.forBackbone(other).images([0], 8))).code).toBe('image-load-failed');
  });

  it('reads file again without cache', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    const dataset = await loadCoopSplit({ root, logger: silentLogger });
    const source = dataset.val.forBackbone(openaiClipPreprocess(8));
    (await source.images([0], 8)).dispose();
    await rm(join(root, 'images', 'dog', 'd2.png'));
    expect((await problemOf(source.images([0], 8))).code).toBe('image-load-failed');
  });

  it('rejects negative cache size', async () => {
    const root = await writeDataset('Tiny', tinySplit);
    expect((await problemOf(loadCoopSplit({ root, cacheSize: -1, logger: silentLogger }))).code).toBe('invalid-option');
  });
});
