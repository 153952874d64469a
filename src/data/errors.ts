/** The three splits of a data set. */
export type SplitName = 'train' | 'val' | 'test';

/** One image that failed the up-front check of a data set's files. */
export interface ImageFileProblem {
  /** The split the image belongs to. */
  readonly split: SplitName;
  /** Position of the entry in its split. */
  readonly index: number;
  /** Absolute path of the image. */
  readonly path: string;
  /** `missing`, `not-a-file` (a folder, say) or `unreadable`. */
  readonly reason: 'missing' | 'not-a-file' | 'unreadable';
}

/** A problem found while opening or reading a data set, with the values involved. */
export type DatasetProblem =
  | {
      /** A data set or image folder does not exist. */
      readonly code: 'folder-not-found';
      /** The folder that was looked for. */
      readonly folder: string;
      /** The option that set it, such as `root` or `imageDir`. */
      readonly option: string;
    }
  | {
      /** The split file does not exist. */
      readonly code: 'split-file-not-found';
      /** The split file that was looked for. */
      readonly file: string;
      /** split_zhou_*.json files found in the data set folder. */
      readonly available: readonly string[];
    }
  | {
      /** The data set folder has several split files and none was chosen. */
      readonly code: 'split-file-ambiguous';
      /** The data set folder. */
      readonly folder: string;
      /** The split files found there. */
      readonly available: readonly string[];
    }
  | {
      /** The split file exists but cannot be read. */
      readonly code: 'split-file-unreadable';
      /** The split file. */
      readonly file: string;
    }
  | {
      /** The split file is not valid JSON or not a train/val/test object. */
      readonly code: 'split-file-invalid';
      /** The split file. */
      readonly file: string;
      /** The parse or structure error. */
      readonly detail: string;
    }
  | {
      /** An entry of the split file is not [image path, label, class name]. */
      readonly code: 'invalid-entry';
      /** The split file. */
      readonly file: string;
      /** The split the entry is in. */
      readonly split: SplitName;
      /** Position of the entry in its split. */
      readonly index: number;
      /** The entry as found. */
      readonly value: unknown;
    }
  | {
      /** An image path of the split file is absolute or leaves the image folder. */
      readonly code: 'path-outside-root';
      /** The split file. */
      readonly file: string;
      /** The split the entry is in. */
      readonly split: SplitName;
      /** Position of the entry in its split. */
      readonly index: number;
      /** The rejected image path. */
      readonly path: string;
    }
  | {
      /** One label has two class names. */
      readonly code: 'label-conflict';
      /** The label. */
      readonly label: number;
      /** The two class names. */
      readonly names: readonly [string, string];
    }
  | {
      /** Labels do not run from 0 to classes − 1 without gaps. */
      readonly code: 'labels-not-contiguous';
      /** Labels that have no example; at most the first 20. */
      readonly missing: readonly number[];
      /** Number of classes implied by the largest label. */
      readonly classes: number;
    }
  | {
      /** Image files listed by the data set are missing or unreadable. */
      readonly code: 'images-unavailable';
      /** Every image that failed the check. */
      readonly files: readonly ImageFileProblem[];
    }
  | {
      /** An image folder has no class sub-folders. */
      readonly code: 'no-classes';
      /** The image folder. */
      readonly folder: string;
    }
  | {
      /** A folder of unlabeled images contains no file with an accepted extension. */
      readonly code: 'no-images';
      /** The folder. */
      readonly folder: string;
    }
  | {
      /** Class folders contain no image with an accepted extension. */
      readonly code: 'class-folder-empty';
      /** The image folder. */
      readonly folder: string;
      /** The empty class folders. */
      readonly classes: readonly string[];
    }
  | {
      /** The test folder's class folders differ from the training folder's. */
      readonly code: 'class-folders-differ';
      /** Classes missing from the test folder. */
      readonly missing: readonly string[];
      /** Classes only the test folder has. */
      readonly extra: readonly string[];
    }
  | {
      /** A class has too few images to give the split at least one. */
      readonly code: 'class-too-small';
      /** The class. */
      readonly className: string;
      /** Images the class has. */
      readonly images: number;
      /** The split left empty. */
      readonly split: SplitName;
    }
  | {
      /** An example index outside an image source was requested. */
      readonly code: 'index-out-of-range';
      /** Id of the image source. */
      readonly source: string;
      /** The requested index. */
      readonly index: number;
      /** Number of examples in the source. */
      readonly size: number;
    }
  | {
      /** An image could not be decoded or preprocessed. */
      readonly code: 'image-load-failed';
      /** Id of the image source. */
      readonly source: string;
      /** Index of the example. */
      readonly index: number;
      /** The image file. */
      readonly path: string;
    }
  | {
      /** An option of a loader or image source is invalid. */
      readonly code: 'invalid-option';
      /** The option, such as `template` or `cacheSize`. */
      readonly option: string;
      /** The value given. */
      readonly value: unknown;
    };

/** Raised by the data set loaders and image sources. `problem` carries the values involved. */
export class DatasetError extends Error {
  /** Error name: `DatasetError`. */
  override readonly name = 'DatasetError';

  constructor(
    /** The problem and the values involved. */
    readonly problem: DatasetProblem,
    message: string,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }

  /** The kind of problem. */
  get code(): DatasetProblem['code'] {
    return this.problem.code;
  }
}

/** Formats `value` as JSON for a message, cut to `limit` characters. */
export function quote(value: unknown, limit = 200): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > limit ? `${text.slice(0, limit)}...` : text;
}

/** Joins the first `limit` items as lines of a message and counts the rest. */
export function listLines(items: readonly string[], limit = 20): string {
  const lines = items.slice(0, limit).map((item) => `  ${item}`);
  if (items.length > limit) lines.push(`  ... and ${items.length - limit} more`);
  return lines.join('\n');
}
