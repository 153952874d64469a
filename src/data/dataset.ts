import type { Logger } from '../runtime/logger.js';
import { ImageCache } from './cache.js';
import { coopTemplate, defaultTemplate } from './catalog.js';
import { DatasetError, listLines, quote, type SplitName } from './errors.js';
import { checkImageFiles, type ImageFileEntry } from './files.js';
import { ImageSplit } from './split.js';

/** A labelled image data set with fixed train, val and test splits. */
export interface Dataset {
  /** Name of the data set, used in reports, split ids and messages. */
  readonly name: string;
  /** Absolute path of the data set's folder. */
  readonly root: string;
  /** Class names for prompts, ordered by label: the raw names with underscores replaced by spaces. */
  readonly classNames: readonly string[];
  /** Class names as the split file or the folder names spell them, ordered by label. */
  readonly rawClassNames: readonly string[];
  /** Zero-shot prompt template, in which `{}` is replaced by a class name. */
  readonly template: string;
  /** Training pool; evaluate-transfer draws its K-shot examples from it. */
  readonly train: ImageSplit;
  /** Validation split. */
  readonly val: ImageSplit;
  /** Test split, on which every condition is measured. */
  readonly test: ImageSplit;
}

/** Options shared by the data set loaders. */
export interface DatasetLoadOptions {
  /** Name of the data set, used in split ids and messages. */
  readonly name?: string;
  /** Zero-shot prompt template with `{}` for the class name. Default: CoOp's template for a standard data set, else "a photo of a {}.". */
  readonly template?: string;
  /** Number of preprocessed images without augmentation kept in memory, shared by all splits and backbones. Default 0 (off). */
  readonly cacheSize?: number;
  /** Check up front that every image exists and is readable. Default true. */
  readonly checkFiles?: boolean;
  /** Logger for the load summary and warnings; the library-wide logger from `getLogger()` when absent. */
  readonly logger?: Logger;
}

/** One example read from a split file or a folder, before the splits are built. */
export interface DatasetEntry {
  readonly split: SplitName;
  /** Position in its split. */
  readonly index: number;
  /** Absolute path of the image. */
  readonly path: string;
  readonly label: number;
  /** Raw class name. */
  readonly className: string;
}

/** Returns the template to use: the caller's, else CoOp's for a standard data set, else the default. */
export function chooseTemplate(name: string, template: string | undefined): string {
  const chosen = template ?? coopTemplate(name) ?? defaultTemplate;
  if (!chosen.includes('{}')) {
    throw new DatasetError(
      { code: 'invalid-option', option: 'template', value: chosen },
      `Prompt template ${quote(chosen)} has no "{}" where the class name goes; use for example ${quote(defaultTemplate)}.`,
    );
  }
  return chosen;
}

/** Returns the class name used in prompts: underscores become spaces, as in CoOp's prompts. */
export function promptClassName(rawName: string): string {
  return rawName.replaceAll('_', ' ');
}

/**
 * Returns the raw class names ordered by label. Raises when one label has two names or the labels are not
 * exactly 0..C-1. `source` names the split file or folder in messages.
 */
export function collectClassNames(entries: readonly DatasetEntry[], source: string, logger: Logger): string[] {
  const names = new Map<number, DatasetEntry>();
  for (const entry of entries) {
    const first = names.get(entry.label);
    if (first === undefined) names.set(entry.label, entry);
    else if (first.className !== entry.className) {
      throw new DatasetError(
        { code: 'label-conflict', label: entry.label, names: [first.className, entry.className] },
        `Label ${entry.label} in ${source} has two class names: ${quote(first.className)} at ${first.split}[${first.index}] and ` +
          `${quote(entry.className)} at ${entry.split}[${entry.index}]. Give each label one class name.`,
      );
    }
  }

  let classes = 0;
  for (const label of names.keys()) classes = Math.max(classes, label + 1);
  const missingCount = classes - names.size;
  if (missingCount > 0) {
    // Only the first few gaps are listed: a stray label such as 1e9 would otherwise list a billion numbers.
    const missing: number[] = [];
    for (let label = 0; label < classes && missing.length < 20; label++) if (!names.has(label)) missing.push(label);
    throw new DatasetError(
      { code: 'labels-not-contiguous', missing, classes },
      `Labels in ${source} must be 0..${classes - 1} with no gaps, but ${missingCount} labels have no example: ${missing.join(', ')}` +
        `${missingCount > missing.length ? ', ...' : ''}. Renumber the labels so they run from 0 without gaps.`,
    );
  }

  const rawNames = Array.from({ length: classes }, (_, label) => (names.get(label) as DatasetEntry).className);
  const repeated = rawNames.filter((name, label) => rawNames.indexOf(name) !== label);
  if (repeated.length > 0) logger.warn('Several labels share a class name, so their zero-shot prompts are identical', { source, names: [...new Set(repeated)] });
  return rawNames;
}

/** Everything {@link buildDataset} needs. */
export interface DatasetParts {
  readonly name: string;
  readonly root: string;
  readonly template: string;
  readonly rawClassNames: readonly string[];
  readonly entries: Readonly<Record<SplitName, readonly DatasetEntry[]>>;
}

/** Checks the image files (unless turned off) and builds the splits, which share one image cache. */
export async function buildDataset(parts: DatasetParts, options: DatasetLoadOptions, logger: Logger): Promise<Dataset> {
  const cacheSize = options.cacheSize ?? 0;
  if (!Number.isInteger(cacheSize) || cacheSize < 0) {
    throw new DatasetError({ code: 'invalid-option', option: 'cacheSize', value: cacheSize }, `cacheSize must be a non-negative integer number of images, got ${quote(cacheSize)}.`);
  }

  const all: ImageFileEntry[] = [...parts.entries.train, ...parts.entries.val, ...parts.entries.test];
  if (options.checkFiles ?? true) await checkImageFiles(all, parts.name);

  const cache = cacheSize > 0 ? new ImageCache(cacheSize) : undefined;
  const split = (name: SplitName): ImageSplit => {
    const entries = parts.entries[name];
    return new ImageSplit(`${parts.name}/${name}`, entries.map((e) => e.path), Int32Array.from(entries, (e) => e.label), cache);
  };
  const dataset: Dataset = {
    name: parts.name,
    root: parts.root,
    classNames: parts.rawClassNames.map(promptClassName),
    rawClassNames: parts.rawClassNames,
    template: parts.template,
    train: split('train'),
    val: split('val'),
    test: split('test'),
  };

  logger.info(`Loaded data set ${dataset.name}`, {
    root: dataset.root,
    classes: dataset.classNames.length,
    train: dataset.train.size,
    val: dataset.val.size,
    test: dataset.test.size,
    template: dataset.template,
  });
  return dataset;
}

/** Formats a list of file names to follow a colon in a message: one indented line per file, or " none". */
export function describeFiles(files: readonly string[]): string {
  return files.length === 0 ? ' none' : `\n${listLines(files)}`;
}
