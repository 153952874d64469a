import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism } from 'node:os';
import { augmentImage, ImagePreprocessError, loadImage, type AugmentOptions, type PreprocessConfig } from '../backbones/preprocess.js';
import type { Random } from '../runtime/random.js';
import type { ImageSource } from '../training/types.js';
import type { ImageCache } from './cache.js';
import { DatasetError, quote } from './errors.js';
import { mapLimit } from './files.js';

/**
 * The part of a backbone's preprocessing that a file source needs. The image side is not part of it: each
 * `images()` call passes its own `imageSize`, so a full {@link PreprocessConfig} (for example `backbone.preprocess`)
 * can be given and its `imageSize` is ignored.
 */
export type ImageNormalization = Pick<PreprocessConfig, 'mean' | 'std' | 'interpolation'>;

/** Options of {@link ImageSplit.forBackbone}. */
export interface FileSourceOptions {
  /** Random crop and flip settings used when `images()` is given a random source. Default: torchvision's. */
  readonly augment?: AugmentOptions;
  /** RGB colour (0-255) that transparent pixels are composited on. Default white. */
  readonly background?: readonly [number, number, number];
  /** Images decoded at once. Default: the number of CPUs. */
  readonly concurrency?: number;
}

/**
 * The image files and labels of one split of a data set, not yet tied to a backbone. Open it once and call
 * {@link forBackbone} for each backbone, since backbones normalize and resample images differently.
 */
export class ImageSplit {
  /** Number of examples. */
  readonly size: number;

  constructor(
    /** Stable name of the split, `<data set>/<split>`, which the sources of this split carry as their id. */
    readonly id: string,
    /** Absolute path of each example's image. */
    readonly paths: readonly string[],
    /** Class index of each example. */
    readonly labels: Int32Array,
    private readonly cache: ImageCache | undefined,
  ) {
    if (paths.length !== labels.length) {
      throw new RangeError(`ImageSplit ${id}: ${paths.length} paths but ${labels.length} labels; give one label per image`);
    }
    this.size = paths.length;
  }

  /**
   * Returns an image source over this split that preprocesses with a backbone's mean, std and resampling filter.
   * Sources of one split share its id, so a feature cache keyed by backbone and id stores one entry per backbone.
   */
  forBackbone(preprocess: ImageNormalization, options: FileSourceOptions = {}): FileImageSource {
    return new FileImageSource(this, preprocess, options, this.cache);
  }

  /**
   * Returns the split restricted to `indices` (repeats allowed), for example a K-shot sample. Its id is
   * `<id>/<name>`. Without a name it ends in the count and a 32-bit hash of the indices, so two different subsets
   * share an id only on a hash collision.
   */
  subset(indices: readonly number[], name?: string): ImageSplit {
    for (const index of indices) checkIndex(this.id, index, this.size);
    const suffix = name ?? `subset-${indices.length}-${hashIndices(indices)}`;
    return new ImageSplit(
      `${this.id}/${suffix}`,
      indices.map((index) => this.paths[index] as string),
      Int32Array.from(indices, (index) => this.labels[index] as number),
      this.cache,
    );
  }
}

function checkIndex(source: string, index: number, size: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= size) {
    throw new DatasetError(
      { code: 'index-out-of-range', source, index, size },
      `Example index ${quote(index)} is out of range for ${source}, which has ${size} examples; use integers from 0 to ${size - 1}.`,
    );
  }
}

/** FNV-1a hash of the indices, as 8 hex digits. */
function hashIndices(indices: readonly number[]): string {
  let hash = 0x811c9dc5;
  for (const index of indices) {
    for (const byte of [index & 0xff, (index >>> 8) & 0xff, (index >>> 16) & 0xff, (index >>> 24) & 0xff]) {
      hash = Math.imul(hash ^ byte, 0x01000193);
    }
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
}

/**
 * An image source that reads a split's files from disk on demand, with {@link loadImage} (resize, centre crop)
 * or, given a random source, {@link augmentImage} (random resized crop and flip). Holds no tensors.
 */
export class FileImageSource implements ImageSource {
  readonly id: string;
  readonly size: number;
  readonly labels: Int32Array;
  /** Absolute path of each example's image. */
  readonly paths: readonly string[];
  private readonly concurrency: number;

  constructor(
    split: ImageSplit,
    private readonly preprocess: ImageNormalization,
    private readonly options: FileSourceOptions,
    private readonly cache: ImageCache | undefined,
  ) {
    const concurrency = options.concurrency ?? availableParallelism();
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new DatasetError({ code: 'invalid-option', option: 'concurrency', value: concurrency }, `concurrency must be a positive integer, got ${quote(concurrency)}.`);
    }
    this.id = split.id;
    this.size = split.size;
    this.labels = split.labels;
    this.paths = split.paths;
    this.concurrency = concurrency;
  }

  /** Loads examples `indices` as [indices.length, imageSize, imageSize, 3], as {@link ImageSource.images} describes. */
  async images(indices: readonly number[], imageSize: number, augment?: Random): Promise<tf.Tensor4D> {
    if (!Number.isInteger(imageSize) || imageSize < 1) {
      throw new DatasetError({ code: 'invalid-option', option: 'imageSize', value: imageSize }, `imageSize must be a positive integer number of pixels, got ${quote(imageSize)}.`);
    }
    for (const index of indices) checkIndex(this.id, index, this.size);

    const config: PreprocessConfig = { imageSize, mean: this.preprocess.mean, std: this.preprocess.std, interpolation: this.preprocess.interpolation };
    const valuesPerImage = imageSize * imageSize * 3;
    const data = new Float32Array(indices.length * valuesPerImage);
    await mapLimit(indices, this.concurrency, async (index, row) => {
      data.set(await this.loadOne(index, config, augment), row * valuesPerImage);
    });

    return tf.tensor4d(data, [indices.length, imageSize, imageSize, 3]);
  }

  private async loadOne(index: number, config: PreprocessConfig, augment: Random | undefined): Promise<Float32Array> {
    const path = this.paths[index] as string;
    const background = this.options.background;
    try {
      if (augment !== undefined) {
        const options = background === undefined ? this.options.augment : { background, ...this.options.augment };
        return await augmentImage(path, config, augment.fork(String(index)), options);
      }

      const key = this.cache === undefined ? undefined : cacheKey(path, config, background);
      const cached = key === undefined ? undefined : this.cache?.get(key);
      if (cached !== undefined) return cached;
      const values = await loadImage(path, config, background === undefined ? {} : { background });
      if (key !== undefined) this.cache?.set(key, values);
      return values;
    } catch (error) {
      // Invalid settings are the caller's, not the file's: raise them as they are.
      if (error instanceof ImagePreprocessError && (error.code === 'invalid-config' || error.code === 'invalid-options')) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new DatasetError({ code: 'image-load-failed', source: this.id, index, path }, `Cannot load example ${index} of ${this.id} (${path}): ${reason}`, {
        cause: error,
      });
    }
  }
}

function cacheKey(path: string, config: PreprocessConfig, background: readonly number[] | undefined): string {
  return [path, config.imageSize, config.interpolation, config.mean.join(','), config.std.join(','), (background ?? []).join(',')].join('\n');
}
