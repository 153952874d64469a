export { DatasetError, type DatasetProblem, type ImageFileProblem, type SplitName } from './errors.js';
export { coopDatasets, coopTemplate, defaultTemplate, findCoopDataset, type CoopDatasetInfo } from './catalog.js';
export { ImageCache } from './cache.js';
export { resolveInside, unsafePathReason } from './paths.js';
export { checkImageFiles, mapLimit, type ImageFileEntry } from './files.js';
export { FileImageSource, ImageSplit, type FileSourceOptions, type ImageNormalization } from './split.js';
export { promptClassName, type Dataset, type DatasetLoadOptions } from './dataset.js';
export { loadCoopSplit, type CoopSplitOptions } from './coop.js';
export { loadImageFolder, type ImageFolderOptions, type SplitFractions } from './image-folder.js';
