import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { getLogger } from '../runtime/logger.js';
import { findCoopDataset } from './catalog.js';
import { buildDataset, chooseTemplate, collectClassNames, describeFiles, type Dataset, type DatasetEntry, type DatasetLoadOptions } from './dataset.js';
import { DatasetError, quote, type SplitName } from './errors.js';
import { isDirectory } from './files.js';
import { resolveInside, unsafePathReason } from './paths.js';

/** Options of {@link loadCoopSplit}. */
export interface CoopSplitOptions extends DatasetLoadOptions {
  /** Folder of the data set, for example `$DATA/oxford_pets`. */
  readonly root: string;
  /** Split file, relative to `root` or absolute. Default: the only `split_zhou_*.json` in `root`. */
  readonly splitFile?: string;
  /**
   * Folder that the split's image paths are relative to, relative to `root` or absolute. Default: CoOp's image
   * folder for a standard data set (for example `images` for OxfordPets, `jpg` for OxfordFlowers), else `images`.
   */
  readonly imageDir?: string;
}

const splitNames: readonly SplitName[] = ['train', 'val', 'test'];
const splitFilePattern = /^split_zhou_.+\.json$/;

async function listSplitFiles(folder: string): Promise<string[]> {
  const names = await readdir(folder).catch(() => [] as string[]);
  return names.filter((name) => splitFilePattern.test(name)).sort();
}

/** Returns the absolute path of the split file: the one given, else the only split_zhou_*.json in `root`. */
async function findSplitFile(root: string, splitFile: string | undefined): Promise<string> {
  if (splitFile !== undefined) {
    const file = resolve(root, splitFile);
    const found = await readdir(dirname(file)).then((names) => names.includes(basename(file))).catch(() => false);
    if (found) return file;
    const folders = [...new Set([dirname(file), root])];
    const available = (await Promise.all(folders.map(async (folder) => (await listSplitFiles(folder)).map((name) => resolve(folder, name))))).flat();
    throw new DatasetError(
      { code: 'split-file-not-found', file, available },
      `Split file ${file} not found. Split files (split_zhou_*.json) in ${folders.join(' and ')}:${describeFiles(available)}\nSet splitFile to one of them.`,
    );
  }

  const available = (await listSplitFiles(root)).map((name) => resolve(root, name));
  if (available.length === 1) return available[0] as string;
  if (available.length === 0) {
    const jsonFiles = (await readdir(root)).filter((name) => name.endsWith('.json')).sort();
    throw new DatasetError(
      { code: 'split-file-not-found', file: resolve(root, 'split_zhou_<Name>.json'), available: [] },
      `No split file split_zhou_<Name>.json in ${root}. JSON files there:${describeFiles(jsonFiles)}\n` +
        'Download the data set\'s split file from CoOp\'s DATASETS.md into that folder, or set splitFile.',
    );
  }
  throw new DatasetError(
    { code: 'split-file-ambiguous', folder: root, available },
    `${available.length} split files in ${root}:${describeFiles(available)}\nSet splitFile to the one to use.`,
  );
}

/** Reads the split file and checks that it is an object with train, val and test lists. */
async function readSplitFile(file: string): Promise<Record<SplitName, unknown[]>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DatasetError({ code: 'split-file-unreadable', file }, `Cannot read split file ${file}: ${reason}.`, { cause: error });
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DatasetError({ code: 'split-file-invalid', file, detail: reason }, `Split file ${file} is not valid JSON: ${reason}. Download it again or repair it.`, {
      cause: error,
    });
  }

  const invalid = (detail: string): DatasetError =>
    new DatasetError({ code: 'split-file-invalid', file, detail }, `Split file ${file} is invalid: ${detail}. Expected {"train": [...], "val": [...], "test": [...]}.`);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid(`the top level is ${quote(parsed, 60)}, not an object`);
  const record = parsed as Record<string, unknown>;
  for (const split of splitNames) {
    if (!Array.isArray(record[split])) throw invalid(`"${split}" is ${record[split] === undefined ? 'missing' : `${quote(record[split], 60)}, not a list`}`);
  }
  return { train: record.train as unknown[], val: record.val as unknown[], test: record.test as unknown[] };
}

/** Checks the entries [image path, label, class name] of one split and resolves their paths inside `imageDir`. */
function parseEntries(items: readonly unknown[], split: SplitName, file: string, imageDir: string): DatasetEntry[] {
  return items.map((item, index) => {
    const [path, label, className] = Array.isArray(item) ? (item as unknown[]) : [];
    const valid =
      Array.isArray(item) &&
      item.length === 3 &&
      typeof path === 'string' &&
      Number.isSafeInteger(label) &&
      (label as number) >= 0 &&
      typeof className === 'string' &&
      className.trim() !== '';
    if (!valid) {
      throw new DatasetError(
        { code: 'invalid-entry', file, split, index, value: item },
        `Entry ${split}[${index}] of ${file} is ${quote(item)}; expected [image path, label, class name] with a label that is ` +
          'an integer from 0 and a non-empty class name, for example ["Abyssinian_1.jpg", 0, "abyssinian"].',
      );
    }

    const reason = unsafePathReason(path);
    const full = reason === undefined ? resolveInside(imageDir, path) : undefined;
    if (full === undefined) {
      throw new DatasetError(
        { code: 'path-outside-root', file, split, index, path },
        `Entry ${split}[${index}] of ${file} has image path ${quote(path)}, which is rejected because ${reason ?? 'it leaves the image folder'}. ` +
          `Image paths must be relative to the image folder ${imageDir} and stay inside it.`,
      );
    }
    return { split, index, path: full, label: label as number, className };
  });
}

/**
 * Opens a data set in CoOp's split format: a `split_zhou_<Name>.json` with `train`, `val` and `test` lists of
 * [image path, label, class name], where each image path is relative to the image folder. Checks every entry and,
 * unless `checkFiles` is false, that every image is readable. Images are read later, per backbone, through
 * `dataset.<split>.forBackbone(backbone.preprocess)`.
 */
export async function loadCoopSplit(options: CoopSplitOptions): Promise<Dataset> {
  const logger = options.logger ?? getLogger();
  const root = resolve(options.root);
  if (!(await isDirectory(root))) {
    throw new DatasetError({ code: 'folder-not-found', folder: root, option: 'root' }, `Data set folder ${root} not found; set root to the folder that contains the split file.`);
  }

  const splitFile = await findSplitFile(root, options.splitFile);
  const split = await readSplitFile(splitFile);

  // A standard data set is recognized by the name option or else by the split file's <Name>. It supplies the
  // default image folder and template.
  const fileName = basename(splitFile).replace(/^split_zhou_/, '').replace(/\.json$/, '');
  const name = options.name ?? fileName;
  const standard = findCoopDataset(name) ?? findCoopDataset(fileName);
  const imageDir = resolve(root, options.imageDir ?? standard?.imageDir ?? 'images');
  if (!(await isDirectory(imageDir))) {
    throw new DatasetError(
      { code: 'folder-not-found', folder: imageDir, option: 'imageDir' },
      `Image folder ${imageDir} of ${name} not found. Set imageDir to the folder that the paths in ${splitFile} are relative to.`,
    );
  }

  const entries = {
    train: parseEntries(split.train, 'train', splitFile, imageDir),
    val: parseEntries(split.val, 'val', splitFile, imageDir),
    test: parseEntries(split.test, 'test', splitFile, imageDir),
  };
  const rawClassNames = collectClassNames([...entries.train, ...entries.val, ...entries.test], splitFile, logger);
  const template = chooseTemplate(standard?.name ?? name, options.template);

  return buildDataset({ name, root, template, rawClassNames, entries }, options, logger);
}
