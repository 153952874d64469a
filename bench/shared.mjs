// Shapes, prompts, tokenizer and timing helpers shared by the benchmark processes.

/** CLIP ViT-B/16 as OpenAI released it: QuickGELU in both towers, layer-norm epsilon 1e-5. */
export const vitB16Config = {
  embedDim: 512,
  text: { width: 512, layers: 12, heads: 8, mlpWidth: 2048, activation: 'quick_gelu', layerNormEps: 1e-5, contextLength: 77, vocabSize: 49408 },
  vision: { width: 768, layers: 12, heads: 12, mlpWidth: 3072, activation: 'quick_gelu', layerNormEps: 1e-5, imageSize: 224, patchSize: 16 },
};

/** Learned context tokens of the prompt-tuning step, as in CoOp's default. */
export const contextTokens = 16;

/** Sequence index of the first context token: right after start-of-text. */
export const contextStart = 1;

/** One hundred class names of one to three words, so prompts differ in length like a real label set. */
export const classNames = [
  'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'lion',
  'tiger', 'leopard', 'cheetah', 'wolf', 'fox', 'rabbit', 'squirrel', 'hedgehog', 'otter', 'beaver',
  'golden retriever', 'border collie', 'siberian husky', 'persian cat', 'bald eagle', 'snowy owl', 'king penguin', 'flamingo', 'peacock', 'parrot',
  'goldfish', 'great white shark', 'killer whale', 'sea turtle', 'octopus', 'jellyfish', 'starfish', 'lobster', 'crab', 'snail',
  'butterfly', 'ladybug', 'honey bee', 'dragonfly', 'spider', 'scorpion', 'frog', 'tree frog', 'lizard', 'crocodile',
  'airplane', 'helicopter', 'hot air balloon', 'sailboat', 'canoe', 'container ship', 'bicycle', 'motorcycle', 'fire truck', 'school bus',
  'police car', 'pickup truck', 'tractor', 'steam locomotive', 'tram', 'skateboard', 'umbrella', 'backpack', 'suitcase', 'wrist watch',
  'laptop', 'keyboard', 'computer mouse', 'mobile phone', 'television', 'microwave oven', 'refrigerator', 'toaster', 'coffee mug', 'teapot',
  'wine glass', 'frying pan', 'pizza', 'hamburger', 'hot dog', 'ice cream', 'banana', 'strawberry', 'pineapple', 'broccoli',
  'mushroom', 'sunflower', 'rose', 'cactus', 'palm tree', 'lighthouse', 'castle', 'suspension bridge', 'windmill', 'volcano',
];

/** CoOp's initial prompt text: `contextTokens` placeholder words, the class name and a full stop. */
export function promptText(className) {
  return [...Array(contextTokens).fill('X'), `${className}.`].join(' ');
}

/** GPT-2's byte-to-unicode table, in which CLIP's byte-level BPE vocabulary is written; index = byte. */
function byteSymbols() {
  const printable = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const symbols = new Map(printable.map((b) => [b, String.fromCodePoint(b)]));
  let extra = 0;
  for (let b = 0; b < 256; b++) if (!symbols.has(b)) symbols.set(b, String.fromCodePoint(256 + extra++));
  return [...symbols.entries()].sort((a, b) => a[0] - b[0]).map(([, symbol]) => symbol);
}

/**
 * Learns BPE merges from `words` until each word is one token, so the benchmark tokenizer splits a prompt
 * into one token per word and punctuation mark, as CLIP's 49408-token vocabulary does for common words.
 */
function learnWholeWordMerges(words, symbolOfByte) {
  const encoder = new TextEncoder();
  const spelled = words.map((word) => {
    const symbols = Array.from(encoder.encode(word), (b) => symbolOfByte[b]);
    symbols[symbols.length - 1] += '</w>';
    return symbols;
  });
  const merges = [];

  for (;;) {
    const pairCounts = new Map();
    for (const symbols of spelled) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const pair = `${symbols[i]} ${symbols[i + 1]}`;
        pairCounts.set(pair, (pairCounts.get(pair) ?? 0) + 1);
      }
    }
    if (pairCounts.size === 0) return merges;

    // The most frequent pair wins, ties go to the alphabetically first pair, so the merges are reproducible.
    const [best] = [...pairCounts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
    const [left, right] = best.split(' ');
    merges.push([left, right]);
    for (const symbols of spelled) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        if (symbols[i] === left && symbols[i + 1] === right) symbols.splice(i, 2, left + right);
      }
    }
  }
}

/**
 * Builds a CLIP tokenizer whose vocabulary has one token per word of `texts`. Its ids stay far below
 * ViT-B/16's vocabulary size, which is all the random token embedding table needs.
 */
export function createPromptTokenizer(lib, texts) {
  const symbolOfByte = byteSymbols();
  const words = [...new Set(texts.flatMap((text) => text.toLowerCase().match(/\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/gu) ?? []))];
  const merges = learnWholeWordMerges(words, symbolOfByte);

  const tokens = [...symbolOfByte, ...symbolOfByte.map((s) => s + '</w>'), ...merges.map(([a, b]) => a + b), '<|startoftext|>', '<|endoftext|>'];
  const vocab = {};
  tokens.forEach((token, id) => (vocab[token] = id));
  const mergesText = ['#version: 0.2', ...merges.map(([a, b]) => `${a} ${b}`)].join('\n') + '\n';
  return lib.clipTokenizerFromVocabMerges(vocab, mergesText);
}

/**
 * Tokenizes the prompts of `count` classes spread evenly over the class list, so a reduced batch keeps
 * the spread of prompt lengths. Returns the TokenizedBatch at ViT-B/16's context length.
 */
export function tokenizePrompts(lib, count) {
  const texts = Array.from({ length: count }, (_, i) => promptText(classNames[Math.floor((i * classNames.length) / count)]));
  return createPromptTokenizer(lib, texts).tokenize(texts, vitB16Config.text.contextLength);
}

/** Returns the median of `values`. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Runs `warmUp` once and then `step` `repetitions` times; returns the median and every timed run in
 * milliseconds. `step` must finish its work (read its result back) before it resolves. A smaller warm-up
 * than the step is enough where the step repeats one call many times.
 */
export async function timeSteps(step, repetitions, warmUp = step) {
  await warmUp();
  const runs = [];
  for (let i = 0; i < repetitions; i++) {
    const start = performance.now();
    await step();
    runs.push(performance.now() - start);
  }
  return { medianMs: median(runs), runsMs: runs };
}
