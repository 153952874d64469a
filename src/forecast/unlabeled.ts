import type * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../backbones/types.js';
import { shuffled } from '../training/sampler.js';
import { createRandom, type Random } from '../runtime/random.js';
import type { ImageSource } from '../training/types.js';
import type { UnlabeledImages } from './types.js';

/** Raised when label-free code reads the labels of an unlabeled image source. */
export class LabelAccessError extends Error {
  /** Error name: `LabelAccessError`. */
  override readonly name = 'LabelAccessError';
}

/**
 * A view of some images of another source whose `labels` getter throws a {@link LabelAccessError}, so that
 * forecasting and migration cannot use a label even by mistake. It has no `id`, so prediction does not
 * cache its features under the base source's name.
 */
class LabelFreeView implements ImageSource {
  /** Number of images in the view. */
  readonly size: number;

  constructor(
    private readonly base: ImageSource,
    private readonly indices: readonly number[],
    private readonly purpose: string,
  ) {
    this.size = indices.length;
  }

  get labels(): Int32Array {
    throw new LabelAccessError(`${this.purpose} uses no labels, but code read the labels of its unlabeled images; this is a bug in vlm-compat, please report it`);
  }

  images(indices: readonly number[], imageSize: number, augment?: Random): Promise<tf.Tensor4D> {
    return this.base.images(
      indices.map((i) => this.indices[i] as number),
      imageSize,
      augment,
    );
  }
}

/**
 * Throws when `value` is not an image source, naming what was passed and how to pass the common mix-ups:
 * the split that `loadUnlabeledImages` returns, which has to be opened for each backbone first.
 */
function checkImageSource(value: unknown, purpose: string): asserts value is ImageSource {
  const candidate = value as Partial<ImageSource> & { forBackbone?: unknown };
  if (typeof value === 'object' && value !== null && typeof candidate.images === 'function' && typeof candidate.size === 'number') return;
  const description = typeof value === 'object' && value !== null ? `an object with fields ${Object.keys(value).join(', ') || '(none)'}` : String(value);
  const hint =
    typeof candidate?.forBackbone === 'function'
      ? 'This looks like the split from loadUnlabeledImages; pass (backbone) => split.forBackbone(backbone.preprocess)'
      : 'Pass an image source (size and images()) or a function that opens one for a backbone';
  throw new TypeError(`${purpose}: the unlabeled images must be an image source, got ${description}. ${hint}.`);
}

/** Checks the size of an unlabeled source; `purpose` names the caller in the error. */
function checkSize(source: ImageSource, purpose: string, minimum: number): void {
  if (!Number.isInteger(source.size) || source.size < minimum) {
    throw new Error(`${purpose} needs at least ${minimum} unlabeled images, but the image source has ${source.size}; pass more images`);
  }
}

/**
 * Picks which images to use: every one when the source has at most `maxImages`, else a seeded sample of
 * `maxImages`, in ascending order. `stream` names the random stream, so that samples of different things
 * drawn with one seed are independent.
 */
export function pickImages(size: number, maxImages: number, seed: number, stream = 'unlabeled-sample'): number[] {
  if (!Number.isInteger(maxImages) || maxImages < 1) throw new Error(`maxImages must be a positive integer, got ${maxImages}`);
  const all = Array.from({ length: size }, (_, i) => i);
  if (size <= maxImages) return all;
  return shuffled(all, createRandom(seed).fork(stream))
    .slice(0, maxImages)
    .sort((a, b) => a - b);
}

/** Unlabeled images opened for the source and the target backbone, as label-free views of the same indices. */
export interface OpenedImages {
  /** The images preprocessed for the source backbone. */
  readonly source: ImageSource;
  /** The same images preprocessed for the target backbone. */
  readonly target: ImageSource;
  /** Number of images in each view. */
  readonly count: number;
  /**
   * Names the chosen images when the opened sources have an id: the source's id and the chosen indices. Feature
   * caches key the images' features by it, so the cells of one data set encode them once per backbone.
   */
  readonly key?: string;
}

/**
 * Opens `images` for both backbones and takes the same indices from each, at most `maxImages` of them.
 * Both views throw when their labels are read. Throws when the two sources differ in size or hold fewer
 * than `minimum` images.
 */
export function openUnlabeled(images: UnlabeledImages, source: Backbone, target: Backbone, options: { readonly maxImages: number; readonly seed: number; readonly purpose: string; readonly minimum: number }): OpenedImages {
  const forSource = typeof images === 'function' ? images(source) : images;
  const forTarget = typeof images === 'function' ? images(target) : images;
  checkImageSource(forSource, options.purpose);
  checkImageSource(forTarget, options.purpose);
  checkSize(forSource, options.purpose, options.minimum);
  if (forTarget.size !== forSource.size) {
    throw new Error(
      `${options.purpose}: the unlabeled images have ${forSource.size} examples for ${source.identity.name} but ${forTarget.size} for ${target.identity.name}; ` +
        'open the same images for both backbones',
    );
  }
  const indices = pickImages(forSource.size, options.maxImages, options.seed);
  return {
    source: new LabelFreeView(forSource, indices, options.purpose),
    target: new LabelFreeView(forTarget, indices, options.purpose),
    count: indices.length,
    ...(forSource.id === undefined ? {} : { key: `${forSource.id}#${indices.join(',')}` }),
  };
}
