import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import sharp, { type Sharp } from 'sharp';
import type { Random } from '../runtime/random.js';

/** Image preprocessing settings of a backbone: input size, normalization and resampling filter. */
export interface PreprocessConfig {
  /** Side of the square input image, pixels. */
  readonly imageSize: number;
  /** Per-channel mean (R, G, B) of pixel values scaled to [0, 1], subtracted before dividing by `std`. */
  readonly mean: readonly [number, number, number];
  /** Per-channel standard deviation (R, G, B) of pixel values scaled to [0, 1]. */
  readonly std: readonly [number, number, number];
  /** Resampling filter, named as in Pillow and torchvision. */
  readonly interpolation: 'bicubic' | 'bilinear';
}

/** OpenAI CLIP's preprocessing: bicubic resize and the mean and std of its training images. */
export const openaiClipPreprocess = (imageSize: number): PreprocessConfig => ({
  imageSize,
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
  interpolation: 'bicubic',
});

/** A path to an image file, or the encoded bytes of one (PNG, JPEG, WebP, GIF, TIFF, AVIF, ...). */
export type ImageInput = string | Uint8Array;

/** Options for {@link loadImage} and {@link loadImageBatch}. */
export interface LoadImageOptions {
  /** RGB colour (0-255) that transparent pixels are composited on. Default white. */
  readonly background?: readonly [number, number, number];
}

/** Options for {@link augmentImage}. The defaults are those of torchvision's RandomResizedCrop and RandomHorizontalFlip. */
export interface AugmentOptions {
  /** Range of the crop's area as a fraction of the image's area. Default [0.08, 1]. */
  readonly scale?: readonly [number, number];
  /** Range of the crop's aspect ratio (width / height). Default [3/4, 4/3]. */
  readonly ratio?: readonly [number, number];
  /** Probability of mirroring the image left to right. Default 0.5. */
  readonly flipProbability?: number;
  /** RGB colour (0-255) that transparent pixels are composited on. Default white. */
  readonly background?: readonly [number, number, number];
}

/** Reason an image could not be preprocessed. */
export type ImagePreprocessErrorCode = 'file-not-found' | 'file-unreadable' | 'decode-failed' | 'invalid-config' | 'invalid-options';

/** Raised by the image loaders on a missing or undecodable image or on invalid settings. */
export class ImagePreprocessError extends Error {
  /** Error name: `ImagePreprocessError`. */
  override readonly name = 'ImagePreprocessError';

  constructor(
    /** Kind of failure, for programmatic handling. */
    readonly code: ImagePreprocessErrorCode,
    message: string,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Decoded 8-bit RGB pixels, [height, width, 3] row-major. */
interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

const white = [255, 255, 255] as const;

function validateConfig(config: PreprocessConfig): void {
  if (!Number.isInteger(config.imageSize) || config.imageSize < 1) {
    throw new ImagePreprocessError('invalid-config', `imageSize must be a positive integer number of pixels, got ${config.imageSize}.`);
  }
  for (const [name, values] of [['mean', config.mean], ['std', config.std]] as const) {
    if (values.length !== 3 || values.some((v) => !Number.isFinite(v))) {
      throw new ImagePreprocessError('invalid-config', `${name} must be three finite numbers (R, G, B), got [${values.join(', ')}].`);
    }
  }
  if (config.std.some((v) => v <= 0)) {
    throw new ImagePreprocessError('invalid-config', `std must be positive in every channel, got [${config.std.join(', ')}].`);
  }
  if (config.interpolation !== 'bicubic' && config.interpolation !== 'bilinear') {
    throw new ImagePreprocessError('invalid-config', `interpolation must be "bicubic" or "bilinear", got ${JSON.stringify(config.interpolation)}.`);
  }
}

function validateBackground(background: readonly number[]): void {
  if (background.length !== 3 || background.some((v) => !Number.isInteger(v) || v < 0 || v > 255)) {
    throw new ImagePreprocessError('invalid-options', `background must be three integers from 0 to 255 (R, G, B), got [${background.join(', ')}].`);
  }
}

function describeInput(input: ImageInput): string {
  return typeof input === 'string' ? input : `encoded image (${input.byteLength} bytes)`;
}

async function readInput(input: ImageInput, label: string): Promise<Uint8Array> {
  if (typeof input !== 'string') return input;
  try {
    return await readFile(input);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ImagePreprocessError('file-not-found', `Image file not found: ${label}. Check the path.`, { cause: error });
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new ImagePreprocessError('file-unreadable', `Cannot read image ${label}: ${reason}.`, { cause: error });
  }
}

/** Decodes an image to 8-bit sRGB, compositing any alpha channel on `background`. */
async function decodeRgb(input: ImageInput, label: string, background: readonly [number, number, number]): Promise<RgbImage> {
  const bytes = await readInput(input, label);
  // NOTE: CLIP's reference preprocessing (Pillow's convert("RGB")) drops alpha, which exposes whatever colour
  // transparent pixels store. Compositing on a background is deliberate and can differ on such images.
  // Neither applies the EXIF orientation, so photos stored sideways stay sideways, as in the reference.
  try {
    const [r, g, b] = background;
    const { data, info } = await sharp(bytes).flatten({ background: { r, g, b } }).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels after conversion to sRGB, got ${info.channels}`);
    return { data, width: info.width, height: info.height };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ImagePreprocessError('decode-failed', `Cannot decode image ${label}: ${reason}. Check that the file is a complete image in a format sharp reads.`, {
      cause: error,
    });
  }
}

/** Copies the region [left, left + width) × [top, top + height) out of `image`. */
function crop(image: RgbImage, left: number, top: number, width: number, height: number): RgbImage {
  if (left === 0 && top === 0 && width === image.width && height === image.height) return image;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * image.width + left) * 3;
    data.set(image.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { data, width, height };
}

/** Pads `image` by `pad` pixels on every side, repeating the edge pixels. */
function padEdges(image: RgbImage, pad: number): RgbImage {
  const width = image.width + 2 * pad;
  const height = image.height + 2 * pad;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sourceY = Math.min(Math.max(y - pad, 0), image.height - 1);
    for (let x = 0; x < width; x++) {
      const sourceX = Math.min(Math.max(x - pad, 0), image.width - 1);
      const from = (sourceY * image.width + sourceX) * 3;
      data.set(image.data.subarray(from, from + 3), (y * width + x) * 3);
    }
  }
  return { data, width, height };
}

function rawInput(image: RgbImage): Sharp {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
}

/**
 * Resamples `image` to `width` × `height` so that the result is close to Pillow's resize, which CLIP's reference
 * preprocessing uses.
 *
 * Measured against Pillow 9.4 on a 97×131 random-noise image (mean absolute difference in 0-255 levels):
 * shrinking with sharp's `cubic` kernel (Catmull-Rom, the same a = -0.5 cubic as Pillow's BICUBIC) differs by
 * 0.3-0.4, ahead of `lanczos2` (0.6), `lanczos3` (3.3) and `mitchell` (3.9); `linear` against BILINEAR differs
 * by 0.3-0.5. Enlarging with sharp's resize ignores the kernel and lands half an output pixel away from Pillow
 * (35 levels on that image), so enlargement uses an affine transform with pixel centres aligned instead (0.6 for
 * bicubic, 0.2 for bilinear).
 */
async function resample(image: RgbImage, width: number, height: number, interpolation: PreprocessConfig['interpolation']): Promise<RgbImage> {
  let current = image;

  // Shrink the axes that get smaller; an axis that grows keeps its size in this step.
  const shrunkWidth = Math.min(width, current.width);
  const shrunkHeight = Math.min(height, current.height);
  if (shrunkWidth < current.width || shrunkHeight < current.height) {
    const kernel = interpolation === 'bicubic' ? sharp.kernel.cubic : sharp.kernel.linear;
    const { data, info } = await rawInput(current).resize(shrunkWidth, shrunkHeight, { fit: 'fill', kernel }).raw().toBuffer({ resolveWithObject: true });
    current = { data, width: info.width, height: info.height };
  }

  // Enlarge the axes that get larger. Output pixel centre x + 0.5 maps to input position (x + 0.5) / scale, as
  // in Pillow. The input is padded with copies of its edge, so the interpolator never reads the black background
  // that affine uses outside the image. Pillow renormalizes its filter there instead, so pixels within two source
  // pixels of an edge can still differ by a few levels.
  if (width > current.width || height > current.height) {
    const pad = 2; // the bicubic interpolator reads two pixels on either side
    const scaleX = width / current.width;
    const scaleY = height / current.height;
    const interpolator = interpolation === 'bicubic' ? sharp.interpolators.bicubic : sharp.interpolators.bilinear;
    const { data, info } = await rawInput(padEdges(current, pad))
      .affine([[scaleX, 0], [0, scaleY]], { idx: 0.5 - pad, idy: 0.5 - pad, odx: -0.5, ody: -0.5, interpolator })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.width < width || info.height < height) {
      throw new Error(`affine enlargement produced ${info.width}×${info.height}, smaller than the requested ${width}×${height}`);
    }
    current = crop({ data, width: info.width, height: info.height }, 0, 0, width, height);
  }

  return current;
}

/** Rounds half to even, as Python's round() does, so that crop offsets match torchvision's. */
function roundHalfEven(x: number): number {
  const rounded = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

/** Writes (pixel / 255 - mean) / std into `out` at `offset` as [height, width, 3]. With `mirror`, flips left to right. */
function normalizeInto(image: RgbImage, config: PreprocessConfig, mirror: boolean, out: Float32Array, offset: number): void {
  const { data, width, height } = image;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + (mirror ? width - 1 - x : x)) * 3;
      const to = offset + (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        out[to + c] = ((data[from + c] as number) / 255 - (config.mean[c] as number)) / (config.std[c] as number);
      }
    }
  }
}

/** Resizes the shortest side to `size` and cuts the centred `size` × `size` square, as torchvision's Resize + CenterCrop. */
async function resizeAndCenterCrop(image: RgbImage, size: number, interpolation: PreprocessConfig['interpolation']): Promise<RgbImage> {
  // torchvision truncates the long side: int(size * long / short).
  const portrait = image.width <= image.height;
  const short = portrait ? image.width : image.height;
  const long = portrait ? image.height : image.width;
  const resizedLong = Math.floor((size * long) / short);
  const resized = await resample(image, portrait ? size : resizedLong, portrait ? resizedLong : size, interpolation);

  const left = roundHalfEven((resized.width - size) / 2);
  const top = roundHalfEven((resized.height - size) / 2);
  return crop(resized, left, top, size, size);
}

async function preprocessOne(input: ImageInput, label: string, config: PreprocessConfig, background: readonly [number, number, number], out: Float32Array, offset: number): Promise<void> {
  const image = await decodeRgb(input, label, background);
  const square = await resizeAndCenterCrop(image, config.imageSize, config.interpolation);
  normalizeInto(square, config, false, out, offset);
}

/**
 * Loads one image as a backbone input: resize the shortest side to `imageSize`, centre crop, composite alpha on
 * the background, normalize with the config's mean and std. Returns [imageSize, imageSize, 3] values (HWC, RGB).
 */
export async function loadImage(input: ImageInput, config: PreprocessConfig, options: LoadImageOptions = {}): Promise<Float32Array> {
  validateConfig(config);
  const background = options.background ?? white;
  validateBackground(background);

  const out = new Float32Array(config.imageSize * config.imageSize * 3);
  await preprocessOne(input, describeInput(input), config, background, out, 0);
  return out;
}

/** Loads several images as {@link loadImage} does into one NHWC array [n, imageSize, imageSize, 3]. */
export async function loadImageBatch(
  inputs: readonly ImageInput[],
  config: PreprocessConfig,
  options: LoadImageOptions = {},
): Promise<{
  /** Pixels in NHWC order, normalized with the config's mean and standard deviation. */
  data: Float32Array;
  /** [n, imageSize, imageSize, 3]. */
  shape: [number, number, number, number];
}> {
  validateConfig(config);
  const background = options.background ?? white;
  validateBackground(background);

  const size = config.imageSize;
  const data = new Float32Array(inputs.length * size * size * 3);
  // A fixed number of workers take the next image in turn, so a large batch never holds every decoded file at once.
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < inputs.length; i = next++) {
      const input = inputs[i] as ImageInput;
      await preprocessOne(input, `inputs[${i}] ${describeInput(input)}`, config, background, data, i * size * size * 3);
    }
  };
  await Promise.all(Array.from({ length: Math.min(availableParallelism(), inputs.length) }, worker));
  return { data, shape: [inputs.length, size, size, 3] };
}

function validateRange(name: string, range: readonly number[]): void {
  const [low, high] = range;
  if (range.length !== 2 || low === undefined || high === undefined || !(low > 0) || !(high >= low) || !Number.isFinite(high)) {
    throw new ImagePreprocessError('invalid-options', `${name} must be [low, high] with 0 < low <= high, got [${range.join(', ')}].`);
  }
}

/**
 * Picks the crop [left, top, width, height] of a `width` × `height` image as torchvision's
 * RandomResizedCrop.get_params does. It makes up to 10 draws of an area fraction and a log-uniform aspect ratio.
 * If no draw fits inside the image, it takes a centred crop clamped to the ratio range.
 */
function randomResizedCropBox(width: number, height: number, scale: readonly [number, number], ratio: readonly [number, number], random: Random): [number, number, number, number] {
  const area = width * height;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  const uniform = (low: number, high: number): number => low + (high - low) * random.next();

  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * uniform(scale[0], scale[1]);
    const aspectRatio = Math.exp(uniform(logRatio[0], logRatio[1]));
    const w = roundHalfEven(Math.sqrt(targetArea * aspectRatio));
    const h = roundHalfEven(Math.sqrt(targetArea / aspectRatio));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = random.int(height - h + 1);
      const left = random.int(width - w + 1);
      return [left, top, w, h];
    }
  }

  const inputRatio = width / height;
  let w = width;
  let h = height;
  if (inputRatio < ratio[0]) h = roundHalfEven(width / ratio[0]);
  else if (inputRatio > ratio[1]) w = roundHalfEven(height * ratio[1]);
  return [Math.floor((width - w) / 2), Math.floor((height - h) / 2), w, h];
}

/**
 * Loads one image with training augmentation: a random resized crop (torchvision's algorithm) scaled to
 * `imageSize`, then a random horizontal flip, then normalization. All randomness comes from `random`, so the same
 * seed gives the same output. Returns [imageSize, imageSize, 3] values (HWC, RGB).
 */
export async function augmentImage(input: ImageInput, config: PreprocessConfig, random: Random, options: AugmentOptions = {}): Promise<Float32Array> {
  validateConfig(config);
  const scale = options.scale ?? [0.08, 1];
  const ratio = options.ratio ?? [3 / 4, 4 / 3];
  const flipProbability = options.flipProbability ?? 0.5;
  const background = options.background ?? white;
  validateRange('scale', scale);
  validateRange('ratio', ratio);
  if (!(flipProbability >= 0 && flipProbability <= 1)) {
    throw new ImagePreprocessError('invalid-options', `flipProbability must be between 0 and 1, got ${flipProbability}.`);
  }
  validateBackground(background);

  const image = await decodeRgb(input, describeInput(input), background);
  const [left, top, width, height] = randomResizedCropBox(image.width, image.height, scale, ratio, random);
  const mirror = random.next() < flipProbability;
  const square = await resample(crop(image, left, top, width, height), config.imageSize, config.imageSize, config.interpolation);

  const out = new Float32Array(config.imageSize * config.imageSize * 3);
  normalizeInto(square, config, mirror, out, 0);
  return out;
}
