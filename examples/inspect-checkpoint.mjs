// Loads a CLIP checkpoint folder (HuggingFace or OpenAI / open_clip layout) and prints what vlm-compat
// sees: identity, dimensions, preprocessing, and the cosine similarity of a few captions to each other.
// Usage: node examples/inspect-checkpoint.mjs FOLDER ["caption" ...]
// Without FOLDER it writes a random tiny checkpoint in both layouts and inspects those.
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRandom, initBackend, initClipCanonical, loadClipBackbone, saveClipCheckpoint } from 'vlm-compat';

async function writeRandomCheckpoint(layout) {
  const folder = await mkdtemp(join(tmpdir(), `vlm-compat-example-${layout}-`));
  const config = {
    embedDim: 32,
    text: { width: 64, layers: 2, heads: 1, mlpWidth: 256, activation: 'quick_gelu', layerNormEps: 1e-5, contextLength: 32, vocabSize: 514 },
    vision: { width: 64, layers: 2, heads: 1, mlpWidth: 256, activation: 'quick_gelu', layerNormEps: 1e-5, imageSize: 32, patchSize: 8 },
  };
  const canonical = initClipCanonical(config, createRandom(0));
  await saveClipCheckpoint(folder, config, canonical, layout);
  tf.dispose([...canonical.values()]);
  // A byte-level vocabulary with no merges: every character is its own token.
  const printable = [...Array(94).keys()].map((i) => i + 33).concat([...Array(12).keys()].map((i) => i + 161), [...Array(82).keys()].map((i) => i + 174));
  const chars = new Map(printable.map((b) => [b, String.fromCodePoint(b)]));
  let extra = 0;
  for (let b = 0; b < 256; b++) if (!chars.has(b)) chars.set(b, String.fromCodePoint(256 + extra++));
  const symbols = [...chars.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c);
  const tokens = [...symbols, ...symbols.map((c) => `${c}</w>`), '<|startoftext|>', '<|endoftext|>'];
  await writeFile(join(folder, 'vocab.json'), JSON.stringify(Object.fromEntries(tokens.map((t, i) => [t, i]))));
  await writeFile(join(folder, 'merges.txt'), '#version: 0.2\n');
  return folder;
}

const [folderArgument, ...captionArguments] = process.argv.slice(2);
const captions = captionArguments.length > 0 ? captionArguments : ['a photo of a cat', 'a photo of a dog', 'a red apple'];
const backend = await initBackend();
console.log(`backend: ${backend.name}`);

const folders = folderArgument === undefined ? [await writeRandomCheckpoint('hf'), await writeRandomCheckpoint('openai')] : [folderArgument];
for (const folder of folders) {
  const backbone = await loadClipBackbone(folder);
  console.log(`\n${folder}`);
  console.log('identity:', backbone.identity);
  console.log('dimensions:', backbone.dims);
  console.log('preprocess:', backbone.preprocess, 'logit scale:', backbone.logitScale.toFixed(3));
  const similarity = tf.tidy(() => {
    const features = backbone.encodeText(backbone.tokenize(captions));
    const normalized = tf.div(features, tf.norm(features, 2, -1, true));
    return tf.matMul(normalized, tf.transpose(normalized)).arraySync();
  });
  captions.forEach((caption, i) => console.log(`  ${similarity[i].map((v) => v.toFixed(3)).join('  ')}  ${caption}`));
  backbone.dispose();
}
