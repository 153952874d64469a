// Pretrains one of the bundled mini backbones with contrastive image-text learning on the emoji corpus.
//
//   node scripts/emoji/pretrain.mjs --model v1 [--samples 80000] [--seed 1] [--out models/mini-clip-v1]
//   node scripts/emoji/pretrain.mjs --model v2 --text-from models/mini-clip-v1 [--samples 90000]
//
// v1 is a CLIP (ViT image tower) trained on the google and twitter styles. v2 is an EVA-CLIP (RoPE,
// SwiGLU, sub-LN image tower) trained on google, twitter, facebook and openmoji, and its text tower starts
// from v1's. The fluent style is never trained on: zero-shot accuracy on it is logged as training runs.
// Needs the corpus cache written by render.mjs and the built package (npm run build).
import * as tf from '@tensorflow/tfjs-core';
import { mkdir, readFile, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
// VLM_COMPAT_LIB points at another build of the library, such as a snapshot taken while dist/ is rebuilt.
const {
  ClipBackbone,
  EvaClipBackbone,
  adamw,
  cosineWithWarmup,
  createRandom,
  initBackend,
  initClipCanonical,
  initEvaCanonical,
  loadClipBackbone,
  loadClipTokenizer,
  matMul,
  openaiClipPreprocess,
  saveClipCheckpoint,
  saveEvaCheckpoint,
} = await import(process.env.VLM_COMPAT_LIB ?? 'vlm-compat');
import { captionCorpus, learnBpe, sampleCaption, taskTemplate } from './captions.mjs';
import { registerGatherGradient } from './gather-gradient.mjs';
import { embedTexts, imageBatch, loadCache, zeroShotTasks } from './evaluate-cache.mjs';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    samples: { type: 'string', default: '80000' },
    batch: { type: 'string', default: '128' },
    lr: { type: 'string', default: '0.002' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
    'text-from': { type: 'string' },
    cache: { type: 'string', default: '.vlm-compat-cache/emoji' },
    size: { type: 'string', default: '48' },
    merges: { type: 'string', default: '2500' },
    'eval-every': { type: 'string', default: '100' },
    'save-every': { type: 'string', default: '200' },
    'init-std': { type: 'string', default: '0.05' },
    'temperature-rate': { type: 'string', default: '20' },
    probe: { type: 'boolean', default: false },
  },
});
if (args.model !== 'v1' && args.model !== 'v2') throw new Error(`--model must be v1 or v2, got ${args.model}`);
const isV2 = args.model === 'v2';
if (isV2 && args['text-from'] === undefined) throw new Error('--model v2 needs --text-from <v1 folder>: its text tower starts from v1');
const out = args.out ?? `models/mini-clip-${args.model}`;
const batchSize = Number(args.batch);
const totalSamples = Number(args.samples);
const totalSteps = Math.ceil(totalSamples / batchSize);
const baseRate = Number(args.lr);
const seed = Number(args.seed);
const trainStyles = isV2 ? ['google', 'twitter', 'facebook', 'openmoji'] : ['google', 'twitter'];
const log = (message) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`);

const backend = await initBackend({ backend: 'wasm' });
registerGatherGradient();
log(`backend ${backend.name}; model ${args.model}; ${totalSteps} steps of ${batchSize}; styles ${trainStyles.join(', ')}`);
const random = createRandom(seed);
const cache = await loadCache(args.cache, Number(args.size));
await mkdir(out, { recursive: true });

// The tokenizer: learned once from the caption corpus for v1 and copied unchanged to v2.
if (isV2) {
  for (const file of ['vocab.json', 'merges.txt']) await copyFile(join(args['text-from'], file), join(out, file));
} else {
  const bpe = learnBpe(captionCorpus(cache.emoji), Number(args.merges));
  await writeFile(join(out, 'vocab.json'), JSON.stringify(bpe.vocab));
  await writeFile(join(out, 'merges.txt'), bpe.mergesText);
  log(`tokenizer: ${bpe.vocabSize} tokens`);
}
const tokenizer = await loadClipTokenizer(out);

const size = cache.size;
const text = { width: 128, layers: 4, heads: 4, mlpWidth: 512, activation: 'gelu', layerNormEps: 1e-5, contextLength: 32, vocabSize: tokenizer.vocabSize };
const preprocess = openaiClipPreprocess(size);
const config = isV2
  ? { embedDim: 128, text, vision: { width: 128, layers: 4, heads: 4, mlpWidth: 341, layerNormEps: 1e-6, imageSize: size, patchSize: 8, ropeReferenceGrid: size / 8 } }
  : { embedDim: 128, text, vision: { ...text, contextLength: undefined, vocabSize: undefined, imageSize: size, patchSize: 8 } };
if (!isV2) {
  delete config.vision.contextLength;
  delete config.vision.vocabSize;
}

// Initial weights: v2 takes every text-tower tensor from v1. With the library's default spread of 0.02 the
// patches barely reach the class token of a 4-layer tower, so every image starts with nearly the same
// feature and contrastive training stalls at loss ln(batch). A spread of 0.05 avoids that.
const initStd = Number(args['init-std']);
let textFrom;
const initial = isV2 ? initEvaCanonical(config, random.fork('init'), initStd) : initClipCanonical(config, random.fork('init'), initStd);
if (isV2) {
  const v1 = await loadClipBackbone(args['text-from']);
  let copied = 0;
  for (const [name, tensor] of v1.weights()) {
    if (!name.startsWith('text.') || !initial.has(name)) continue;
    initial.get(name).dispose();
    initial.set(name, tf.clone(tensor));
    copied++;
  }
  textFrom = { folder: args['text-from'], revision: v1.identity.revision };
  v1.dispose();
  log(`text tower: ${copied} tensors copied from ${args['text-from']} (${textFrom.revision})`);
}
const variables = new Map();
for (const [name, tensor] of initial) {
  variables.set(name, tf.variable(tensor, true, `${args.model}/${name}`));
  tensor.dispose();
}
const identity = { family: isV2 ? 'eva-clip' : 'clip', name: `mini-clip-${args.model}`, revision: 'training', weightsSha256: '' };
const model = isV2 ? new EvaClipBackbone(identity, config, variables, tokenizer, preprocess) : new ClipBackbone(identity, config, variables, tokenizer, preprocess);
const parameterCount = [...variables.values()].reduce((n, v) => n + v.size, 0);
log(`parameters: ${parameterCount}`);

// Weight decay on matrices only, none on norms, biases, embeddings of single vectors and the temperature.
// The temperature gets its own optimizer at a higher rate. At the towers' rate it moved by less than 0.1 in a
// 400-step run and stayed near 1 / 0.07, which leaves zero-shot logits too flat for tuning modules to learn from.
const decayed = new Map([...variables].filter(([name, v]) => v.rank >= 2 && !name.includes('embedding')));
const undecayed = new Map([...variables].filter(([name]) => !decayed.has(name) && name !== 'logit_scale'));
const temperature = new Map([['logit_scale', variables.get('logit_scale')]]);
const temperatureRateFactor = Number(args['temperature-rate']);
const optimizers = [
  { optimizer: adamw(decayed, 0.1, 0.9, 0.98, 1e-6), factor: 1 },
  { optimizer: adamw(undecayed, 0, 0.9, 0.98, 1e-6), factor: 1 },
  { optimizer: adamw(temperature, 0, 0.9, 0.98, 1e-6), factor: temperatureRateFactor },
];
const logitScale = variables.get('logit_scale');
const nameOf = new Map([...variables].map(([name, v]) => [v.name, name]));

// Training pairs: every emoji that has at least one training style.
const trainable = cache.emoji.map((e, i) => ({ i, styles: trainStyles.filter((s) => e.styles.includes(s)) })).filter((e) => e.styles.length > 0);
const warmupSteps = Math.min(100, Math.round(totalSteps * 0.05));
const history = [];
const started = Date.now();

async function save(step, evaluation) {
  const canonical = new Map(variables);
  const metadata = { revision: `step-${step}`, seed: String(seed), samples: String(step * batchSize), styles: trainStyles.join(',') };
  if (isV2) await saveEvaCheckpoint(out, config, canonical, 'eva-clip', { dtype: 'F16', metadata, preprocess });
  else await saveClipCheckpoint(out, config, canonical, 'hf', { dtype: 'F16', metadata });
  const record = { model: identity.name, textFrom, seed, batchSize, steps: totalSteps, completedSteps: step, samples: step * batchSize, baseRate, trainStyles, size, parameters: parameterCount, seconds: (Date.now() - started) / 1000, evaluation, history };
  await writeFile(join(out, 'training.json'), JSON.stringify(record, null, 2) + '\n');
  log(`saved ${out} at step ${step}`);
}

async function evaluate() {
  // Every fluent image is encoded once, and each task then compares the features with its own class prompts.
  const fluent = cache.emoji.map((e, i) => ({ e, i })).filter(({ e }) => e.styles.includes('fluent'));
  const rowOf = new Map(fluent.map(({ i }, row) => [i, row]));
  const parts = [];
  for (let start = 0; start < fluent.length; start += 256) {
    const rows = fluent.slice(start, start + 256).map(({ i }) => ({ emoji: i, style: 'fluent' }));
    parts.push(
      tf.tidy(() => {
        const raw = model.encodeImage(imageBatch(cache, rows, preprocess));
        return tf.div(raw, tf.norm(raw, 2, -1, true));
      }),
    );
  }
  const images = tf.concat(parts, 0);
  tf.dispose(parts);

  const result = {};
  for (const task of zeroShotTasks(cache, 'fluent')) {
    const predicted = tf.tidy(() => {
      const classes = embedTexts(model, task.classNames.map((c) => taskTemplate.replace('{}', c)));
      const taskImages = tf.gather(images, tf.tensor1d(task.items.map((item) => rowOf.get(item.emoji)), 'int32'));
      return tf.argMax(matMul(taskImages, tf.transpose(classes)), -1);
    });
    const labels = await predicted.data();
    predicted.dispose();
    result[task.name] = task.items.filter((item, k) => labels[k] === item.label).length / task.items.length;
  }
  images.dispose();
  return result;
}

for (let step = 0; step < totalSteps; step++) {
  const t0 = Date.now();
  const rate = step < warmupSteps ? (baseRate * (step + 1)) / warmupSteps : cosineWithWarmup(step, totalSteps, baseRate, warmupSteps, baseRate);

  // A batch of distinct emoji, each in one random training style with one random caption.
  const chosen = new Set();
  while (chosen.size < Math.min(batchSize, trainable.length)) chosen.add(trainable[random.int(trainable.length)]);
  const rows = [...chosen].map((e) => ({ emoji: e.i, style: e.styles[random.int(e.styles.length)] }));
  const captions = rows.map((r) => sampleCaption(cache.emoji[r.emoji], random));
  const tokens = model.tokenize(captions);
  const pixels = imageBatch(cache, rows, preprocess, random.fork(`augment-${step}`));

  const { value, grads } = tf.variableGrads(() => {
    const image = model.encodeImage(pixels);
    const textFeatures = model.encodeText(tokens);
    const imageUnit = tf.div(image, tf.norm(image, 2, -1, true));
    const textUnit = tf.div(textFeatures, tf.norm(textFeatures, 2, -1, true));
    const scale = tf.exp(tf.minimum(logitScale, Math.log(100)));
    const logits = tf.mul(matMul(imageUnit, tf.transpose(textUnit)), scale); // [batch, batch]
    // A caption drawn for several emoji of the batch (such as "an emoji of objects.") gives identical text
    // features, and with identical columns of logits the identity targets equal spreading each row over the copies.
    const diagonal = tf.cast(tf.oneHot(tf.range(0, rows.length, 1, 'int32'), rows.length), 'float32');
    const lossImage = tf.neg(tf.mean(tf.sum(tf.mul(diagonal, tf.logSoftmax(logits)), -1)));
    const lossText = tf.neg(tf.mean(tf.sum(tf.mul(diagonal, tf.logSoftmax(tf.transpose(logits))), -1)));
    return tf.div(tf.add(lossImage, lossText), 2);
  }, [...variables.values()]);
  const named = new Map(Object.entries(grads).map(([key, g]) => [nameOf.get(key), g]));
  for (const { optimizer, factor } of optimizers) optimizer.step(named, rate * factor);
  // CLIP clamps the logit scale at 100. Clamping the variable too keeps it from drifting above, where no gradient reaches.
  tf.tidy(() => logitScale.assign(tf.clipByValue(logitScale, 0, Math.log(100))));
  const loss = (await value.data())[0];
  tf.dispose([value, pixels, ...Object.values(grads)]);

  const seconds = (Date.now() - t0) / 1000;
  if (step % 10 === 0 || args.probe) log(`step ${step + 1}/${totalSteps} loss ${loss.toFixed(3)} lr ${rate.toExponential(2)} scale ${Math.exp((await logitScale.data())[0]).toFixed(1)} ${seconds.toFixed(2)} s/step, tensors ${tf.memory().numTensors}`);
  history.push({ step: step + 1, loss });
  if (args.probe && step === 4) process.exit(0);

  const last = step + 1 === totalSteps;
  if ((step + 1) % Number(args['eval-every']) === 0 || last) {
    const accuracy = await evaluate();
    history[history.length - 1].zeroShot = accuracy;
    log(`zero-shot on fluent after ${(step + 1) * batchSize} samples: ${Object.entries(accuracy).map(([k, v]) => `${k} ${(100 * v).toFixed(1)}%`).join(', ')}`);
    if ((step + 1) % Number(args['save-every']) === 0 || last) await save(step + 1, accuracy);
  }
}
log(`done in ${((Date.now() - started) / 60000).toFixed(1)} min`);
