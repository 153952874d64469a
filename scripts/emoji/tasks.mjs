// Writes the few-shot emoji tasks in CoOp's split format: data/emoji-tasks/split_zhou_<Name>.json and the
// PNGs they name under data/emoji-tasks/images/<style>/. Training images come from the styles both mini
// backbones were pretrained on (google, twitter); test images from the held-out fluent style.
//
//   node scripts/emoji/tasks.mjs [--out data/emoji-tasks] [--size 48] [--seed 1]
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { loadCache, zeroShotTasks } from './evaluate-cache.mjs';
import { onBackground } from './render.mjs';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'data/emoji-tasks' },
    cache: { type: 'string', default: '.vlm-compat-cache/emoji' },
    size: { type: 'string', default: '48' },
    seed: { type: 'string', default: '1' },
  },
});

/**
 * Task names as the split files spell them, how many emoji per class the training split keeps, and how many
 * fluent images per class the test split keeps (a cap keeps the demo fast; the per-emoji tasks have one each).
 */
const taskFiles = {
  category: ['EmojiCategory', 16, 60],
  subcategory: ['EmojiSubcategory', 4, 20],
  animals: ['EmojiAnimals', 1, 1],
  food: ['EmojiFood', 1, 1],
  'animal-groups': ['EmojiAnimalGroups', 8, 1000],
  'food-groups': ['EmojiFoodGroups', 8, 1000],
};

/**
 * Two subsets of the subcategory task with few classes, which keep prompt modules cheap in the demo: the
 * kind of animal (mammal, bird, ...) and the kind of food or drink (fruit, vegetable, drink, ...).
 */
function groupTasks(cache) {
  const tasks = [];
  for (const [name, keep] of [
    ['animal-groups', (e) => e.category === 'animals and nature' && e.subcategory.startsWith('animal')],
    ['food-groups', (e) => e.category === 'food and drink'],
  ]) {
    const items = cache.emoji.map((e, i) => ({ e, i })).filter(({ e }) => keep(e) && e.styles.includes('fluent'));
    const classNames = [...new Set(items.map(({ e }) => e.subcategory))];
    tasks.push({ name, classNames, items: items.map(({ e, i }) => ({ emoji: i, label: classNames.indexOf(e.subcategory) })) });
  }
  return tasks;
}
const trainStyles = ['google', 'twitter'];

// A small seeded generator for choosing training emoji (mulberry32), so the script needs no build.
function seeded(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle(list) {
  const copy = [...list];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

const cache = await loadCache(args.cache, Number(args.size));
const next = seeded(Number(args.seed));
const written = new Set();
await rm(join(args.out, 'images'), { recursive: true, force: true });

async function image(emoji, style) {
  const path = `${style}/${cache.emoji[emoji].id}.png`;
  if (written.has(path)) return path;
  const size = cache.size;
  const offset = (cache.styles.indexOf(style) * cache.emoji.length + emoji) * size * size * 4;
  const rgb = onBackground(cache.bytes.subarray(offset, offset + size * size * 4));
  await mkdir(join(args.out, 'images', style), { recursive: true });
  await sharp(Buffer.from(rgb), { raw: { width: size, height: size, channels: 3 } }).png({ compressionLevel: 9 }).toFile(join(args.out, 'images', path));
  written.add(path);
  return path;
}

const summary = [];
for (const task of [...zeroShotTasks(cache, 'fluent'), ...groupTasks(cache)]) {
  const [fileName, perClass, testPerClass] = taskFiles[task.name];
  const classOfEmoji = new Map(task.items.map((item) => [item.emoji, item.label]));
  const test = [];
  for (const [label] of task.classNames.entries()) {
    const items = shuffle(task.items.filter((item) => item.label === label)).slice(0, testPerClass);
    for (const item of items.sort((a, b) => a.emoji - b.emoji)) test.push([await image(item.emoji, 'fluent'), label, task.classNames[label]]);
  }

  // Training emoji of a class: any emoji of the class drawn in both training styles, whether fluent has it or not.
  const members = task.classNames.map(() => []);
  cache.emoji.forEach((e, i) => {
    const byGroup = task.name === 'subcategory' || task.name.endsWith('-groups');
    let label = classOfEmoji.get(i) ?? -1;
    if (task.name === 'category') label = task.classNames.indexOf(e.category);
    else if (byGroup) label = task.classNames.indexOf(e.subcategory);
    if (label >= 0 && trainStyles.every((s) => e.styles.includes(s))) members[label].push(i);
  });
  const train = [];
  for (const [label, list] of members.entries()) {
    const chosen = shuffle(list).slice(0, perClass);
    for (const emoji of chosen) for (const style of trainStyles) train.push([await image(emoji, style), label, task.classNames[label]]);
  }
  await writeFile(join(args.out, `split_zhou_${fileName}.json`), JSON.stringify({ train, val: [], test }) + '\n');
  summary.push(`${fileName}: ${task.classNames.length} classes, ${train.length} train, ${test.length} test`);
}
console.log(summary.join('\n'));
console.log(`${written.size} images in ${join(args.out, 'images')}`);
