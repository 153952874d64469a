// Captions for contrastive pretraining, and the small CLIP-format BPE vocabulary learned from them.

/** Prompt template of every downstream task and of the zero-shot checks during pretraining. */
export const taskTemplate = 'an emoji of {}.';

const clean = (text) => text.replace(/[-_]/g, ' ').replace(/\s+/g, ' ').trim().toLowerCase();

function pick(list, random) {
  return list[random.int(list.length)];
}

/**
 * One random caption for an emoji: its name, a short name, keywords, its category or subcategory, in one
 * of several sentence forms. `random` is a vlm-compat Random.
 */
export function sampleCaption(emoji, random) {
  const name = clean(emoji.label);
  const names = [name, clean(emoji.name), ...emoji.shortNames.map(clean)];
  const keywords = emoji.keywords.length > 0 ? emoji.keywords : [name];
  const someKeywords = () => {
    const count = 1 + random.int(Math.min(3, keywords.length));
    const chosen = new Set();
    while (chosen.size < count) chosen.add(pick(keywords, random));
    return [...chosen].join(', ');
  };
  const forms = [
    () => pick(names, random),
    () => `an emoji of ${pick(names, random)}.`,
    () => `a ${emoji.subcategory} emoji: ${name}`,
    () => `an emoji of ${emoji.category}: ${pick(names, random)}`,
    () => `an emoji of ${emoji.category}.`,
    () => `an emoji of ${emoji.subcategory}.`,
    () => `${emoji.category}, ${emoji.subcategory}, ${name}`,
    () => `an emoji of ${someKeywords()}.`,
    () => `${name}: ${someKeywords()}`,
  ];
  return pick(forms, random)();
}

/** Every word a caption can contain, with a rough frequency: the text the BPE merges are learned from. */
export function captionCorpus(corpus) {
  const lines = [];
  for (const emoji of corpus) {
    const names = [clean(emoji.label), clean(emoji.name), ...emoji.shortNames.map(clean)];
    lines.push(...names.map((n) => `an emoji of ${n}.`));
    lines.push(`a ${emoji.subcategory} emoji: an emoji of ${emoji.category}.`);
    lines.push(emoji.keywords.join(', '));
  }
  return lines;
}

// CLIP's word pattern, the same the library's tokenizer splits on.
const wordPattern = /'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/gu;

/** GPT-2's byte-to-symbol table: printable bytes map to themselves, the rest to 256, 257, ... in byte order. */
function byteSymbols() {
  const printable = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table = new Array(256);
  for (const b of printable) table[b] = String.fromCodePoint(b);
  let next = 256;
  for (let b = 0; b < 256; b++) if (table[b] === undefined) table[b] = String.fromCodePoint(next++);
  return { table, order: [...printable.map((b) => table[b]), ...Array.from({ length: 256 }, (_, b) => b).filter((b) => !printable.includes(b)).map((b) => table[b])] };
}

/**
 * Learns `mergeCount` BPE merges over the words of `lines` (CLIP-style: byte-level symbols, "</w>" marks a
 * word's last symbol) and returns vocab.json's object and merges.txt's text in the layout of HuggingFace's
 * CLIP tokenizer: 256 byte symbols, the same with "</w>", one token per merge, then the two specials.
 */
export function learnBpe(lines, mergeCount) {
  const { table, order } = byteSymbols();
  const wordCounts = new Map();
  for (const line of lines) {
    const text = line.normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase();
    for (const word of text.match(wordPattern) ?? []) wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
  }
  const words = [...wordCounts.entries()].map(([word, count]) => {
    const symbols = [...Buffer.from(word, 'utf8')].map((b) => table[b]);
    symbols[symbols.length - 1] += '</w>';
    return { symbols, count };
  });

  const merges = [];
  for (let m = 0; m < mergeCount; m++) {
    const pairs = new Map();
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + count);
      }
    }
    let best;
    let bestCount = 1;
    for (const [key, count] of pairs) {
      if (count > bestCount || (count === bestCount && best !== undefined && key < best)) {
        best = key;
        bestCount = count;
      }
    }
    if (best === undefined) break;
    const [a, b] = best.split(' ');
    merges.push([a, b]);
    for (const word of words) {
      const s = word.symbols;
      const merged = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          merged.push(a + b);
          i++;
        } else merged.push(s[i]);
      }
      word.symbols = merged;
    }
  }

  const tokens = [...order, ...order.map((s) => s + '</w>'), ...merges.map(([a, b]) => a + b), '<|startoftext|>', '<|endoftext|>'];
  // Two merges can spell the same token ("a"+"bc", "ab"+"c"); it keeps its first id, so ids stay contiguous.
  const vocab = {};
  let nextId = 0;
  for (const token of tokens) if (!(token in vocab)) vocab[token] = nextId++;
  const mergesText = ['#version: 0.2', ...merges.map(([a, b]) => `${a} ${b}`)].join('\n') + '\n';
  return { vocab, mergesText, vocabSize: nextId };
}
