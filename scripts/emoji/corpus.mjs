// Builds the emoji corpus: one record per base emoji (skin-tone variants and the Component category left
// out) with its names, keywords, category and subcategory, and the file of its image in each style.
// Shared by the pre-rendering, pretraining and task-writing scripts.
import { access, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** Folder of an installed package. */
export function packageFolder(name) {
  return dirname(require.resolve(`${name}/package.json`));
}

/** The five styles: four seen in pretraining (two by v1, four by v2) and fluent, held out. */
export const styles = ['google', 'twitter', 'facebook', 'openmoji', 'fluent'];

/** Category names as they appear in captions and class names. */
export const categoryNames = {
  'Smileys & Emotion': 'smileys and emotion',
  'People & Body': 'people and body',
  'Animals & Nature': 'animals and nature',
  'Food & Drink': 'food and drink',
  'Travel & Places': 'travel and places',
  Activities: 'activities',
  Objects: 'objects',
  Symbols: 'symbols',
  Flags: 'flags',
};

const withoutSelector = (hex) => hex.toUpperCase().split('-').filter((part) => part !== 'FE0F').join('-');

/** Turns an English label into the file-name slug fluentui-emoji uses ("thumbs up" → "thumbs-up"). */
export function fluentSlug(label) {
  return label
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[’'“”.!:,()]/g, '')
    .replace(/&/g, '')
    .replace(/[^a-z0-9*#]+/g, '-')
    .replace(/\*/g, 'asterisk')
    .replace(/#/g, 'hash')
    .replace(/^-+|-+$/g, '');
}

async function exists(path) {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Loads every base emoji with its metadata and the image path of each style (undefined where a style lacks it). */
export async function loadEmojiCorpus() {
  const datasource = JSON.parse(await readFile(join(packageFolder('emoji-datasource'), 'emoji.json'), 'utf8'));
  const emojibase = JSON.parse(await readFile(join(packageFolder('emojibase-data'), 'en', 'data.json'), 'utf8'));
  const byHex = new Map(emojibase.map((entry) => [withoutSelector(entry.hexcode), entry]));

  const fluentFolder = join(packageFolder('fluentui-emoji'), 'icons', 'flat');
  const openmojiFolder = join(packageFolder('openmoji'), 'color', 'svg');
  const pngFolder = (style) => join(packageFolder(`emoji-datasource-${style}`), 'img', style, '64');

  const entries = datasource.filter((e) => e.category !== 'Component').sort((a, b) => a.sort_order - b.sort_order);
  const corpus = [];
  for (const e of entries) {
    const base = byHex.get(withoutSelector(e.unified));
    const label = base?.label ?? e.name.toLowerCase();
    const files = {};
    for (const style of ['google', 'twitter', 'facebook']) {
      const path = join(pngFolder(style), e.image);
      if (e[`has_img_${style}`] && (await exists(path))) files[style] = path;
    }
    for (const hex of [e.unified, e.non_qualified, withoutSelector(e.unified)]) {
      if (hex == null) continue;
      const path = join(openmojiFolder, `${hex.toUpperCase()}.svg`);
      if (await exists(path)) {
        files.openmoji = path;
        break;
      }
    }
    const slug = fluentSlug(label);
    for (const name of [`${slug}.svg`, `${slug}-default.svg`]) {
      const path = join(fluentFolder, name);
      if (await exists(path)) {
        files.fluent = path;
        break;
      }
    }
    corpus.push({
      id: e.unified.toLowerCase(),
      name: (e.name ?? label).toLowerCase(),
      label,
      shortNames: e.short_names.map((s) => s.replace(/_/g, ' ')),
      keywords: (base?.tags ?? []).filter((t) => /^[a-z][a-z ]*$/.test(t)),
      category: categoryNames[e.category],
      subcategory: e.subcategory.replace(/-/g, ' '),
      files,
    });
  }
  return corpus;
}
