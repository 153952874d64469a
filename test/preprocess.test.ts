import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  augmentImage,
  ImagePreprocessError,
  loadImage,
  loadImageBatch,
  openaiClipPreprocess,
  type PreprocessConfig,
} from '../src/backbones/preprocess.js';
import { createRandom } from '../src/runtime/random.js';

type Rgb = readonly [number, number, number];

const red: Rgb = [220, 20, 30];
const blue: Rgb = [10, 40, 200];
const green: Rgb = [0, 255, 0];
const white: Rgb = [255, 255, 255];

let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-compat-preprocess-'));
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** Writes a PNG whose pixel (x, y) has colour `colour(x, y)`, with 4 channels when `alpha` is given. */
async function writePng(name: string, width: number, height: number, colour: (x: number, y: number) => Rgb, alpha?: (x: number, y: number) => number): Promise<string> {
  const channels = alpha === undefined ? 3 : 4;
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const offset = (y * width + x) * channels;
      data.set(colour(x, y), offset);
      if (alpha !== undefined) data[offset + 3] = alpha(x, y);
    }
  }
  const path = join(folder, name);
  await sharp(data, { raw: { width, height, channels } }).png().toFile(path);
  return path;
}

/** Returns the exact float32 value that channel value `value` normalizes to. */
function normalized(config: PreprocessConfig, value: number, channel: number): number {
  return Math.fround((value / 255 - (config.mean[channel] as number)) / (config.std[channel] as number));
}

function pixel(values: Float32Array, size: number, x: number, y: number): number[] {
  const offset = (y * size + x) * 3;
  return Array.from(values.subarray(offset, offset + 3));
}

function expectedPixel(config: PreprocessConfig, colour: Rgb): number[] {
  return colour.map((v, c) => normalized(config, v, c));
}

/** Recovers 0-255 levels from normalized values. */
function levels(values: Float32Array, config: PreprocessConfig): number[] {
  return Array.from(values, (v, i) => (v * (config.std[i % 3] as number) + (config.mean[i % 3] as number)) * 255);
}

function meanAbsDiff(a: readonly number[], b: readonly number[]): number {
  return a.reduce((sum, v, i) => sum + Math.abs(v - (b[i] as number)), 0) / a.length;
}

describe('loadImage', () => {
  it('returns HWC values of the image size', async () => {
    const path = await writePng('size.png', 30, 30, () => red);
    const values = await loadImage(path, openaiClipPreprocess(12));
    expect(values).toBeInstanceOf(Float32Array);
    expect(values).toHaveLength(12 * 12 * 3);
  });

  it('normalizes a solid colour exactly', async () => {
    const colour: Rgb = [200, 100, 51];
    const config = openaiClipPreprocess(4);
    const path = await writePng('solid.png', 10, 10, () => colour);
    const values = await loadImage(path, config);
    for (let i = 0; i < values.length; i++) expect(values[i]).toBe(normalized(config, colour[i % 3] as number, i % 3));
  });

  it('keeps left on the left', async () => {
    const config = openaiClipPreprocess(8);
    const path = await writePng('left-right.png', 8, 8, (x) => (x < 4 ? red : blue));
    const values = await loadImage(path, config);
    expect(pixel(values, 8, 0, 0)).toEqual(expectedPixel(config, red));
    expect(pixel(values, 8, 7, 7)).toEqual(expectedPixel(config, blue));
    expect(pixel(values, 8, 3, 5)).toEqual(expectedPixel(config, red));
    expect(pixel(values, 8, 4, 5)).toEqual(expectedPixel(config, blue));
  });

  it('keeps top at the top', async () => {
    const config = openaiClipPreprocess(8);
    const path = await writePng('top-bottom.png', 8, 8, (_, y) => (y < 4 ? red : blue));
    const values = await loadImage(path, config);
    expect(pixel(values, 8, 7, 0)).toEqual(expectedPixel(config, red));
    expect(pixel(values, 8, 0, 7)).toEqual(expectedPixel(config, blue));
  });

  it('crops a wide image to its centre', async () => {
    // 40×20 with a green band in columns 0-4: the 20×20 centre crop spans columns 10-29.
    const config = openaiClipPreprocess(20);
    const path = await writePng('wide.png', 40, 20, (x) => (x < 5 ? green : white));
    const values = await loadImage(path, config);
    for (let x = 0; x < 20; x++) expect(pixel(values, 20, x, 10), `column ${x}`).toEqual(expectedPixel(config, white));
  });

  it('crops a tall image to its centre', async () => {
    const config = openaiClipPreprocess(10);
    const bands = (_: number, y: number): Rgb => {
      if (y < 10) return green;
      if (y < 20) return red;
      return blue;
    };
    const path = await writePng('tall.png', 10, 30, bands);
    const values = await loadImage(path, config);
    for (let y = 0; y < 10; y++) expect(pixel(values, 10, 5, y), `row ${y}`).toEqual(expectedPixel(config, red));
  });

  it('composites transparency on white', async () => {
    const config = openaiClipPreprocess(6);
    const path = await writePng('transparent.png', 6, 6, () => [0, 0, 0], () => 0);
    const values = await loadImage(path, config);
    expect(pixel(values, 6, 2, 3)).toEqual(expectedPixel(config, white));
  });

  it('composites transparency on a given background', async () => {
    const config = openaiClipPreprocess(6);
    const path = await writePng('transparent-left.png', 6, 6, () => red, (x) => (x < 3 ? 0 : 255));
    const values = await loadImage(path, config, { background: [0, 255, 0] });
    expect(pixel(values, 6, 0, 0)).toEqual(expectedPixel(config, green));
    expect(pixel(values, 6, 5, 0)).toEqual(expectedPixel(config, red));
  });

  it('reads encoded bytes', async () => {
    const config = openaiClipPreprocess(8);
    const path = await writePng('bytes.png', 8, 8, (x) => (x < 4 ? red : blue));
    const bytes = new Uint8Array(await sharp(path).png().toBuffer());
    expect(await loadImage(bytes, config)).toEqual(await loadImage(path, config));
  });

  it('reads greyscale images as RGB', async () => {
    const config = openaiClipPreprocess(4);
    const path = join(folder, 'grey.png');
    await sharp(Buffer.alloc(16, 90), { raw: { width: 4, height: 4, channels: 1 } }).png().toFile(path);
    const values = await loadImage(path, config);
    expect(pixel(values, 4, 1, 1)).toEqual(expectedPixel(config, [90, 90, 90]));
  });
});

describe('loadImage resampling', () => {
  // Pillow 9.4 outputs for CLIP's pipeline (resize the shortest side, centre crop) on a greyscale pattern
  // v(x, y) = (53x + 97y + 11((x y) mod 7)) mod 256, computed with Image.resize and Image.crop.
  const pattern = (x: number, y: number): Rgb => {
    const v = (x * 53 + y * 97 + ((x * y) % 7) * 11) % 256;
    return [v, v, v];
  };
  const pillow = {
    enlarge: {
      bicubic: [124, 159, 195, 230, 198, 76, 0, 130, 140, 166, 202, 182, 85, 20, 146, 89, 89, 130, 140, 106, 91, 157, 53, 32, 72, 108, 136, 165, 143, 91, 81, 100, 131, 178, 205, 125, 145, 152, 149, 165, 214, 227, 118, 165, 179, 166, 178, 230, 238],
      bilinear: [127, 150, 174, 197, 178, 88, 12, 130, 138, 156, 180, 168, 95, 34, 140, 101, 104, 130, 138, 115, 99, 150, 65, 51, 79, 108, 136, 165, 136, 101, 99, 115, 136, 166, 191, 122, 138, 146, 150, 165, 197, 217, 117, 150, 162, 162, 174, 207, 226],
    },
    shrink: {
      bicubic: [101, 134, 129, 118, 98, 131, 149, 144, 146, 135, 117, 109, 145, 105, 126, 127, 142, 124, 123, 119, 140, 155, 136, 128, 130, 108, 157, 133, 118, 127, 153, 144, 119, 120, 128, 151],
      bilinear: [108, 132, 130, 120, 102, 126, 144, 142, 143, 134, 119, 112, 141, 110, 127, 130, 139, 124, 126, 120, 140, 150, 133, 128, 130, 113, 150, 132, 122, 128, 150, 141, 124, 121, 130, 146],
    },
  };

  for (const interpolation of ['bicubic', 'bilinear'] as const) {
    it(`enlarges like Pillow (${interpolation})`, async () => {
      // 8×3 → 18×7, then the 7×7 centre crop. With 3 source rows every output pixel is near an edge, where
      // Pillow renormalizes its filter and loadImage repeats edge pixels, hence the looser bound. A resize that is
      // half a pixel off, as sharp's own enlargement is, differs by about 24 levels here.
      const config = { ...openaiClipPreprocess(7), interpolation };
      const path = await writePng(`enlarge-${interpolation}.png`, 8, 3, pattern);
      const red = levels(await loadImage(path, config), config).filter((_, i) => i % 3 === 0);
      expect(meanAbsDiff(red, pillow.enlarge[interpolation])).toBeLessThan(2.5);
    });

    it(`shrinks like Pillow (${interpolation})`, async () => {
      const config = { ...openaiClipPreprocess(6), interpolation };
      const path = await writePng(`shrink-${interpolation}.png`, 16, 16, pattern);
      const red = levels(await loadImage(path, config), config).filter((_, i) => i % 3 === 0);
      expect(meanAbsDiff(red, pillow.shrink[interpolation])).toBeLessThan(1.5);
    });
  }
});

describe('loadImageBatch', () => {
  it('stacks images as NHWC', async () => {
    const config = openaiClipPreprocess(8);
    const a = await writePng('batch-a.png', 8, 8, (x) => (x < 4 ? red : blue));
    const b = await writePng('batch-b.png', 16, 12, () => green);
    const batch = await loadImageBatch([a, b], config);
    expect(batch.shape).toEqual([2, 8, 8, 3]);
    expect(batch.data.subarray(0, 192)).toEqual(await loadImage(a, config));
    expect(batch.data.subarray(192)).toEqual(await loadImage(b, config));
  });

  it('keeps input order in large batches', async () => {
    const config = openaiClipPreprocess(4);
    const colours = Array.from({ length: 24 }, (_, i): Rgb => [i * 10, 255 - i * 10, 7]);
    const paths = await Promise.all(colours.map((colour, i) => writePng(`order-${i}.png`, 4, 4, () => colour)));
    const batch = await loadImageBatch(paths, config);
    colours.forEach((colour, i) => expect(pixel(batch.data, 4, 0, i * 4), `image ${i}`).toEqual(expectedPixel(config, colour)));
  });

  it('names the failing entry', async () => {
    const config = openaiClipPreprocess(8);
    const a = await writePng('batch-ok.png', 8, 8, () => red);
    await expect(loadImageBatch([a, new Uint8Array([1, 2, 3])], config)).rejects.toThrow(/inputs\[1\] encoded image \(3 bytes\)/);
  });

  it('returns an empty batch', async () => {
    const batch = await loadImageBatch([], openaiClipPreprocess(8));
    expect(batch.shape).toEqual([0, 8, 8, 3]);
  });
});

describe('augmentImage', () => {
  const config = openaiClipPreprocess(16);
  let path: string;

  beforeAll(async () => {
    path = await writePng('augment.png', 48, 40, (x, y) => [(x * 5) % 256, (y * 6) % 256, ((x + y) * 3) % 256]);
  });

  it('returns HWC values of the image size', async () => {
    expect(await augmentImage(path, config, createRandom(1))).toHaveLength(16 * 16 * 3);
  });

  it('repeats for the same seed', async () => {
    expect(await augmentImage(path, config, createRandom(3))).toEqual(await augmentImage(path, config, createRandom(3)));
  });

  it('differs between seeds', async () => {
    expect(await augmentImage(path, config, createRandom(3))).not.toEqual(await augmentImage(path, config, createRandom(4)));
  });

  it('mirrors with flip probability 1', async () => {
    // Full-area square crops of a square image at the output size leave only the flip.
    const square = await writePng('augment-square.png', 16, 16, (x, y) => [x * 15, y * 15, 100]);
    const whole = { scale: [1, 1], ratio: [1, 1] } as const;
    const plain = await loadImage(square, config);
    const flipped = await augmentImage(square, config, createRandom(1), { ...whole, flipProbability: 1 });
    for (const [x, y] of [[0, 0], [3, 7], [15, 15]] as const) expect(pixel(flipped, 16, x, y)).toEqual(pixel(plain, 16, 15 - x, y));
  });

  it('keeps orientation with flip probability 0', async () => {
    const square = await writePng('augment-square-0.png', 16, 16, (x, y) => [x * 15, y * 15, 100]);
    const unflipped = await augmentImage(square, config, createRandom(1), { scale: [1, 1], ratio: [1, 1], flipProbability: 0 });
    expect(unflipped).toEqual(await loadImage(square, config));
  });

  it('falls back to a centre crop', async () => {
    // A 64×8 strip cannot hold any crop with aspect ratio near 1 and area near all of it, so all 10 draws fail
    // and torchvision's fallback takes the centred 11×8 crop (8 × 4/3 rounded), here the green middle.
    const strip = await writePng('strip.png', 64, 8, (x) => (x >= 26 && x < 38 ? green : red));
    const values = await augmentImage(strip, config, createRandom(5), { scale: [0.9, 1], ratio: [1, 4 / 3], flipProbability: 0 });
    expect(pixel(values, 16, 8, 8)).toEqual(expectedPixel(config, green));
    expect(pixel(values, 16, 0, 0)).toEqual(expectedPixel(config, green));
  });

  it('rejects an invalid scale', async () => {
    await expect(augmentImage(path, config, createRandom(1), { scale: [0.5, 0.2] })).rejects.toThrow(/scale must be \[low, high\].*got \[0.5, 0.2\]/);
  });

  it('rejects an invalid flip probability', async () => {
    await expect(augmentImage(path, config, createRandom(1), { flipProbability: 2 })).rejects.toThrow(/flipProbability must be between 0 and 1, got 2/);
  });
});

describe('image errors', () => {
  it('names a missing file', async () => {
    const missing = join(folder, 'missing.png');
    const error = await loadImage(missing, openaiClipPreprocess(8)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImagePreprocessError);
    expect((error as ImagePreprocessError).code).toBe('file-not-found');
    expect((error as Error).message).toContain(missing);
  });

  it('names a corrupt file and the decoder message', async () => {
    const corrupt = join(folder, 'corrupt.png');
    await writeFile(corrupt, 'this is not a png');
    const error = await loadImage(corrupt, openaiClipPreprocess(8)).catch((e: unknown) => e);
    expect((error as ImagePreprocessError).code).toBe('decode-failed');
    expect((error as Error).message).toContain(corrupt);
    expect((error as Error).message).toMatch(/unsupported image format/);
  });

  it('rejects a truncated PNG', async () => {
    const whole = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#808080' } }).png().toBuffer();
    const error = await loadImage(new Uint8Array(whole.subarray(0, whole.length - 20)), openaiClipPreprocess(8)).catch((e: unknown) => e);
    expect((error as ImagePreprocessError).code).toBe('decode-failed');
  });

  it('rejects an image size below 1', async () => {
    const path = await writePng('size-zero.png', 4, 4, () => red);
    await expect(loadImage(path, openaiClipPreprocess(0))).rejects.toThrow(/imageSize must be a positive integer number of pixels, got 0/);
  });

  it('rejects a zero std', async () => {
    const path = await writePng('std-zero.png', 4, 4, () => red);
    await expect(loadImage(path, { ...openaiClipPreprocess(4), std: [0.2, 0, 0.2] })).rejects.toThrow(/std must be positive/);
  });

  it('rejects an out-of-range background', async () => {
    const path = await writePng('background.png', 4, 4, () => red);
    await expect(loadImage(path, openaiClipPreprocess(4), { background: [0, 300, 0] })).rejects.toThrow(/background must be three integers from 0 to 255/);
  });
});
