// Reads the pre-rendered corpus cache, builds (augmented) image batches from it, and defines the zero-shot
// tasks that pretraining logs and the model cards report.
import * as tf from '@tensorflow/tfjs-core';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { categoryNames } from './corpus.mjs';

/** Loads emoji-<size>.bin and .json written by render.mjs. */
export async function loadCache(folder, size) {
  const meta = JSON.parse(await readFile(join(folder, `emoji-${size}.json`), 'utf8'));
  const bytes = new Uint8Array(await readFile(join(folder, `emoji-${size}.bin`)));
  return { ...meta, bytes };
}

/**
 * Builds preprocessed images [rows, size, size, 3] from the cache. Without `random`, each emoji is composited
 * on white, exactly as the task PNGs are written. With `random`, each image is zoomed (0.8-1.15), rotated
 * (±12°) and shifted (±4 px), its brightness jittered, and it is composited on white or a random light colour.
 */
export function imageBatch(cache, rows, preprocess, random) {
  const size = cache.size;
  const pixels = size * size;
  const rgba = new Float32Array(rows.length * pixels * 4);
  rows.forEach((row, r) => {
    const offset = (cache.styles.indexOf(row.style) * cache.emoji.length + row.emoji) * pixels * 4;
    for (let p = 0; p < pixels; p++) {
      const a = cache.bytes[offset + p * 4 + 3] / 255;
      const o = (r * pixels + p) * 4;
      // Premultiplied alpha, so that resampling does not bleed the colour of transparent pixels.
      rgba[o] = (cache.bytes[offset + p * 4] / 255) * a;
      rgba[o + 1] = (cache.bytes[offset + p * 4 + 1] / 255) * a;
      rgba[o + 2] = (cache.bytes[offset + p * 4 + 2] / 255) * a;
      rgba[o + 3] = a;
    }
  });
  const backgrounds = new Float32Array(rows.length * 3).fill(1);
  const brightness = new Float32Array(rows.length).fill(1);
  const transforms = new Float32Array(rows.length * 8);
  const center = (size - 1) / 2;
  rows.forEach((_, r) => {
    let [a0, a1, a2, b0, b1, b2] = [1, 0, 0, 0, 1, 0];
    if (random !== undefined) {
      const scale = 0.8 + 0.35 * random.next();
      const angle = ((random.next() * 2 - 1) * 12 * Math.PI) / 180;
      const dx = (random.next() * 2 - 1) * 4;
      const dy = (random.next() * 2 - 1) * 4;
      a0 = Math.cos(angle) / scale;
      a1 = -Math.sin(angle) / scale;
      b0 = Math.sin(angle) / scale;
      b1 = Math.cos(angle) / scale;
      a2 = center - a0 * center - a1 * center + dx;
      b2 = center - b0 * center - b1 * center + dy;
      if (random.next() < 0.5) for (let c = 0; c < 3; c++) backgrounds[r * 3 + c] = 0.75 + 0.25 * random.next();
      brightness[r] = 0.85 + 0.3 * random.next();
    }
    transforms.set([a0, a1, a2, b0, b1, b2, 0, 0], r * 8);
  });
  return tf.tidy(() => {
    let images = tf.tensor4d(rgba, [rows.length, size, size, 4]);
    if (random !== undefined) images = tf.image.transform(images, tf.tensor2d(transforms, [rows.length, 8]), 'bilinear', 'constant', 0);
    const color = tf.slice(images, [0, 0, 0, 0], [-1, -1, -1, 3]);
    const alpha = tf.slice(images, [0, 0, 0, 3], [-1, -1, -1, 1]);
    const lit = tf.minimum(tf.mul(color, tf.reshape(tf.tensor1d(brightness), [-1, 1, 1, 1])), alpha);
    const composed = tf.add(lit, tf.mul(tf.sub(1, alpha), tf.reshape(tf.tensor2d(backgrounds, [rows.length, 3]), [-1, 1, 1, 3])));
    return tf.div(tf.sub(composed, tf.tensor1d([...preprocess.mean])), tf.tensor1d([...preprocess.std]));
  });
}

/** Encodes texts with a backbone → unit-length features [texts, embedDim]. */
export function embedTexts(model, texts) {
  return tf.tidy(() => {
    const features = model.encodeText(model.tokenize(texts));
    return tf.div(features, tf.norm(features, 2, -1, true));
  });
}

/**
 * The zero-shot tasks on one style: category (9 classes), subcategory, animals (each animal emoji is a
 * class) and food and drink (each emoji is a class). Items are the emoji that have the style.
 */
export function zeroShotTasks(cache, style) {
  const present = cache.emoji.map((e, i) => ({ e, i })).filter(({ e }) => e.styles.includes(style));
  const byClass = (name, classOf, filter = () => true) => {
    const kept = present.filter(({ e }) => filter(e));
    const classNames = [...new Set(kept.map(({ e }) => classOf(e)))];
    return { name, classNames, items: kept.map(({ e, i }) => ({ emoji: i, label: classNames.indexOf(classOf(e)) })) };
  };
  const category = byClass('category', (e) => e.category);
  category.classNames.sort((a, b) => Object.values(categoryNames).indexOf(a) - Object.values(categoryNames).indexOf(b));
  category.items = present.map(({ e, i }) => ({ emoji: i, label: category.classNames.indexOf(e.category) }));
  return [
    category,
    byClass('subcategory', (e) => e.subcategory),
    byClass('animals', (e) => e.label, (e) => e.category === 'animals and nature' && e.subcategory.startsWith('animal')),
    byClass('food', (e) => e.label, (e) => e.category === 'food and drink'),
  ];
}
