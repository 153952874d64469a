import { extname, join, resolve } from 'node:path';
import { DatasetError } from './errors.js';
import { checkImageFiles, isDirectory, listFolder } from './files.js';
import { imageExtensionSet } from './image-folder.js';
import { ImageSplit } from './split.js';

/** Options of {@link loadUnlabeledImages}. */
export interface UnlabeledImagesOptions {
  /** Folder of images; sub-folders are searched too. */
  readonly folder: string;
  /** File extensions counted as images, case-insensitive. Default .jpg .jpeg .png .webp .gif .tif .tiff .avif. */
  readonly extensions?: readonly string[];
  /** Name of the split in feature-cache keys and messages. Default `unlabeled:<folder>`. */
  readonly name?: string;
}

async function listImages(folder: string, extensions: ReadonlySet<string>): Promise<string[]> {
  const found: string[] = [];
  for (const name of await listFolder(folder, () => true)) {
    const path = join(folder, name);
    if (await isDirectory(path)) found.push(...(await listImages(path, extensions)));
    else if (extensions.has(extname(name).toLowerCase())) found.push(path);
  }
  return found;
}

/**
 * Opens a folder of unlabeled images (for example images from production) for the compatibility forecast
 * and label-free migration. Every image file in the folder and its sub-folders is used, in sorted path
 * order. Hidden files and folders are skipped. The split's labels are all -1, since there are none.
 */
export async function loadUnlabeledImages(options: UnlabeledImagesOptions): Promise<ImageSplit> {
  const folder = resolve(options.folder);
  if (!(await isDirectory(folder))) {
    throw new DatasetError({ code: 'folder-not-found', folder, option: 'folder' }, `Unlabeled image folder ${folder} not found; give a folder that contains image files.`);
  }
  const extensions = imageExtensionSet(options.extensions);
  const paths = await listImages(folder, extensions);
  if (paths.length === 0) {
    throw new DatasetError(
      { code: 'no-images', folder },
      `Unlabeled image folder ${folder} holds no file ending in ${[...extensions].join(', ')}; add images, or list the extensions your files use (the extensions option, unlabeled.extensions in a config).`,
    );
  }
  const name = options.name ?? `unlabeled:${folder}`;
  await checkImageFiles(
    paths.map((path, index) => ({ split: 'train', index, path })),
    name,
  );
  return new ImageSplit(name, paths, new Int32Array(paths.length).fill(-1), undefined);
}
