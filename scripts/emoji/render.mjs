// Renders every emoji of every style once to a small RGBA square and stores them in one cache file, so
// pretraining never decodes a PNG or SVG in its loop.
//
// Output: <cache>/emoji-<size>.bin (Uint8 RGBA, [style][emoji][size][size][4], transparent where a style
// lacks the emoji) and <cache>/emoji-<size>.json (the corpus records and which styles each emoji has).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadEmojiCorpus, styles } from './corpus.mjs';

/** Renders one image file to straight-alpha RGBA [size, size, 4]. SVGs are rasterized at a density that makes them at least 4× the target. */
export async function renderRgba(path, size) {
  const input = path.endsWith('.svg') ? sharp(path, { density: 288 }) : sharp(path);
  const { data } = await input
    .ensureAlpha()
    .resize(size, size, { fit: 'contain', background: { r: 0, g: 0, b: 0, alpha: 0 } })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return data;
}

/** Composites RGBA on a background colour → RGB bytes. */
export function onBackground(rgba, background = [255, 255, 255]) {
  const pixels = rgba.length / 4;
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    const a = rgba[p * 4 + 3] / 255;
    for (let c = 0; c < 3; c++) rgb[p * 3 + c] = Math.round(rgba[p * 4 + c] * a + background[c] * (1 - a));
  }
  return rgb;
}

export async function renderCorpus(cacheFolder, size) {
  const corpus = await loadEmojiCorpus();
  const imageBytes = size * size * 4;
  const out = new Uint8Array(styles.length * corpus.length * imageBytes);
  const started = Date.now();

  const jobs = [];
  styles.forEach((style, s) => corpus.forEach((emoji, i) => emoji.files[style] && jobs.push({ path: emoji.files[style], offset: (s * corpus.length + i) * imageBytes })));
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      out.set(await renderRgba(job.path, size), job.offset);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));

  await mkdir(cacheFolder, { recursive: true });
  await writeFile(join(cacheFolder, `emoji-${size}.bin`), out);
  const records = corpus.map((e) => ({ ...e, styles: styles.filter((s) => e.files[s] !== undefined), files: undefined }));
  await writeFile(join(cacheFolder, `emoji-${size}.json`), JSON.stringify({ size, styles, emoji: records }));
  return { images: jobs.length, seconds: (Date.now() - started) / 1000 };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const size = Number(process.argv[2] ?? 48);
  const cache = process.argv[3] ?? '.vlm-compat-cache/emoji';
  const result = await renderCorpus(cache, size);
  console.log(`rendered ${result.images} images at ${size} px in ${result.seconds.toFixed(1)} s into ${cache}`);
}
