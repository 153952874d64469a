import { basename, extname, join, resolve } from 'node:path';
import { getLogger } from '../runtime/logger.js';
import { createRandom, type Random } from '../runtime/random.js';
import { shuffled } from '../training/sampler.js';
import { buildDataset, chooseTemplate, collectClassNames, type Dataset, type DatasetEntry, type DatasetLoadOptions } from './dataset.js';
import { DatasetError, quote, type SplitName } from './errors.js';
import { isDirectory, listFolder } from './files.js';

/** Share of each class's images in each split. */
export interface SplitFractions {
  /** Share of each class used for training, above 0. */
  readonly train: number;
  /** Share used for validation, 0 or more. */
  readonly val: number;
  /** Share used for test, above 0; the three shares sum to 1. */
  readonly test: number;
}

/** Options of {@link loadImageFolder}. */
export interface ImageFolderOptions extends DatasetLoadOptions {
  /** Folder with one sub-folder of images per class. The data set's name defaults to this folder's name. */
  readonly root: string;
  /**
   * Folder of test images with the same class sub-folders as `root`. When given, `root` is split into train
   * and val only, by `valFraction`, and `fractions` must be left out.
   */
  readonly testRoot?: string;
  /** Split of each class without `testRoot`. Default { train: 0.5, val: 0.2, test: 0.3 }, as CoOp splits DTD. */
  readonly fractions?: SplitFractions;
  /** Share of each class in val when `testRoot` is given. Default 0.2, as CoOp's train/val split. */
  readonly valFraction?: number;
  /** Seed of the split: the same files and seed always give the same split. Default 0. */
  readonly seed?: number;
  /** File extensions counted as images, case-insensitive. Default .jpg .jpeg .png .webp .gif .tif .tiff .avif. */
  readonly extensions?: readonly string[];
}

/** File extensions counted as images when no list is given, lower case with the dot. */
export const defaultImageExtensions = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];
/** Returns the extensions counted as images (default {@link defaultImageExtensions}) in lower case with a leading dot. */
export function imageExtensionSet(extensions: readonly string[] = defaultImageExtensions): Set<string> {
  return new Set(extensions.map((ext) => (ext.startsWith('.') ? ext : `.${ext}`).toLowerCase()));
}

const defaultFractions: SplitFractions = { train: 0.5, val: 0.2, test: 0.3 };

function invalidOption(option: string, value: unknown, expected: string): DatasetError {
  return new DatasetError({ code: 'invalid-option', option, value }, `${option} is ${quote(value)}; ${expected}.`);
}

/** Returns the fractions to split `root` by, checking the options. */
function resolveFractions(options: ImageFolderOptions): SplitFractions {
  if (options.testRoot !== undefined) {
    if (options.fractions !== undefined) throw invalidOption('fractions', options.fractions, 'leave it out when testRoot is given, and set valFraction instead');
    const val = options.valFraction ?? 0.2;
    if (!(val >= 0 && val < 1)) throw invalidOption('valFraction', val, 'give a number from 0 up to but not including 1');
    return { train: 1 - val, val, test: 0 };
  }

  if (options.valFraction !== undefined) throw invalidOption('valFraction', options.valFraction, 'it applies only with testRoot; set fractions instead');
  const fractions = options.fractions ?? defaultFractions;
  const values = [fractions.train, fractions.val, fractions.test];
  if (values.some((v) => !(Number.isFinite(v) && v >= 0)) || !(fractions.train > 0 && fractions.test > 0) || Math.abs(values.reduce((a, b) => a + b, 0) - 1) > 1e-6) {
    throw invalidOption('fractions', fractions, 'give non-negative train, val and test shares that sum to 1, with train and test above 0');
  }
  return fractions;
}

/** Rounds half to even, as Python's round() does, so that split sizes match CoOp's for the same fractions. */
function roundHalfEven(x: number): number {
  const rounded = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

/** Lists the sorted image files of each class folder of `folder`. Raises when a class folder has none. */
async function listClassImages(folder: string, classes: readonly string[], extensions: ReadonlySet<string>): Promise<string[][]> {
  const images = await Promise.all(
    classes.map(async (className) => {
      const files = await listFolder(join(folder, className), (kind) => kind === 'file');
      return files.filter((file) => extensions.has(extname(file).toLowerCase())).map((file) => join(folder, className, file));
    }),
  );
  const empty = classes.filter((_, label) => images[label]?.length === 0);
  if (empty.length > 0) {
    throw new DatasetError(
      { code: 'class-folder-empty', folder, classes: empty },
      `${empty.length} class folders in ${folder} have no images with the extensions ${[...extensions].join(' ')}: ${empty.map((name) => quote(name)).join(', ')}. ` +
        'Add images, remove those folders, or set extensions.',
    );
  }
  return images;
}

/** Cuts one class's shuffled images into train, val and test slices of the given fractions, in that order. */
function splitClass(images: readonly string[], className: string, fractions: SplitFractions, random: Random): Record<SplitName, string[]> {
  const order = shuffled(images, random.fork(`class-${className}`));
  const train = roundHalfEven(order.length * fractions.train);
  const val = Math.min(roundHalfEven(order.length * fractions.val), order.length - train);
  const parts = { train: order.slice(0, train), val: order.slice(train, train + val), test: order.slice(train + val) };

  // Val may be empty for a small class, but every class needs training and test images.
  for (const split of ['train', 'test'] as const) {
    if (parts[split].length === 0 && fractions[split] > 0) {
      throw new DatasetError(
        { code: 'class-too-small', className, images: images.length, split },
        `Class ${quote(className)} has ${images.length} images, which leaves none for ${split} with fractions ${quote(fractions)}. Add images to the class or change the fractions.`,
      );
    }
  }
  return parts;
}

/**
 * Opens a data set stored as one folder per class. Classes are the sub-folder names in sorted order (hidden
 * folders skipped); images are the files directly inside each class folder with an image extension. Each class
 * is shuffled with the seed and cut into train, val and test, or into train and val when `testRoot` contains the
 * test images.
 */
export async function loadImageFolder(options: ImageFolderOptions): Promise<Dataset> {
  const logger = options.logger ?? getLogger();
  const root = resolve(options.root);
  const testRoot = options.testRoot === undefined ? undefined : resolve(options.testRoot);
  const fractions = resolveFractions(options);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw invalidOption('seed', seed, 'give an integer');
  const extensions = imageExtensionSet(options.extensions);

  for (const [option, folder] of [['root', root], ['testRoot', testRoot]] as const) {
    if (folder !== undefined && !(await isDirectory(folder))) {
      throw new DatasetError({ code: 'folder-not-found', folder, option }, `Image folder ${folder} not found; set ${option} to a folder with one sub-folder per class.`);
    }
  }

  const classes = await listFolder(root, (kind) => kind === 'directory');
  if (classes.length === 0) {
    throw new DatasetError({ code: 'no-classes', folder: root }, `Image folder ${root} has no class folders; put the images of each class in a sub-folder named after the class.`);
  }
  if (testRoot !== undefined) {
    const testClasses = await listFolder(testRoot, (kind) => kind === 'directory');
    const missing = classes.filter((name) => !testClasses.includes(name));
    const extra = testClasses.filter((name) => !classes.includes(name));
    if (missing.length > 0 || extra.length > 0) {
      throw new DatasetError(
        { code: 'class-folders-differ', missing, extra },
        `The class folders of ${testRoot} differ from those of ${root}: missing ${quote(missing)}, extra ${quote(extra)}. Give both the same class folders.`,
      );
    }
  }

  const trainImages = await listClassImages(root, classes, extensions);
  const testImages = testRoot === undefined ? undefined : await listClassImages(testRoot, classes, extensions);

  const random = createRandom(seed);
  const files: Record<SplitName, Array<{ path: string; label: number }>> = { train: [], val: [], test: [] };
  classes.forEach((className, label) => {
    const parts = splitClass(trainImages[label] as string[], className, fractions, random);
    if (testImages !== undefined) parts.test = testImages[label] as string[];
    for (const split of ['train', 'val', 'test'] as const) files[split].push(...parts[split].map((path) => ({ path, label })));
  });

  const toEntries = (split: SplitName): DatasetEntry[] =>
    files[split].map(({ path, label }, index) => ({ split, index, path, label, className: classes[label] as string }));
  const entries = { train: toEntries('train'), val: toEntries('val'), test: toEntries('test') };
  const name = options.name ?? basename(root);
  const rawClassNames = collectClassNames([...entries.train, ...entries.val, ...entries.test], root, logger);

  return buildDataset({ name, root, template: chooseTemplate(name, options.template), rawClassNames, entries }, options, logger);
}
