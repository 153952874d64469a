// Times one CoOp training step (forward, backward and SGD update of the context) at CLIP ViT-B/16 text
// shapes on the wasm backend, with and without vlm-compat's exact speed-ups. When /usr/bin/python3 (or
// VLM_COMPAT_PYTHON) can import torch, it also times the same step in plain PyTorch (bench/coop_torch.py).
// Usage: npm run build && node bench/coop.mjs [--repetitions N] [--cut-classes A,B] [--full-classes A,B] [--skip-torch]
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as lib from 'vlm-compat';
import { classNames, contextTokens, createPromptTokenizer, median, promptText, vitB16Config } from './shared.mjs';
import { registerMissingWasmKernels } from './wasm-kernels.mjs';

const benchFolder = dirname(fileURLToPath(import.meta.url));
const python = process.env.VLM_COMPAT_PYTHON ?? '/usr/bin/python3';

const { values: options } = parseArgs({
  options: {
    repetitions: { type: 'string', default: '2' },
    // The variants without the shared prefix do not fit the wasm heap (4 GB) at 100 classes and would take
    // minutes per step. Each runs at two smaller class counts instead, and the line through both points (a
    // fixed cost per step plus a cost per text-tower row) is evaluated at 100 classes.
    'cut-classes': { type: 'string', default: '10,20' },
    'full-classes': { type: 'string', default: '3,6' },
    'skip-torch': { type: 'boolean', default: false },
  },
});

function positiveInteger(name, text, max = Infinity) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) throw new Error(`--${name} must be an integer from 1 to ${max}, got "${text}"`);
  return value;
}

const repetitions = positiveInteger('repetitions', options.repetitions);
function twoClassCounts(name) {
  const counts = options[name].split(',').map((text) => positiveInteger(name, text.trim(), classNames.length - 1));
  if (counts.length !== 2 || counts[0] === counts[1]) throw new Error(`--${name} must give two different class counts such as 10,20, got "${options[name]}"`);
  return counts;
}
const cutClasses = twoClassCounts('cut-classes');
const fullClasses = twoClassCounts('full-classes');

/** CoOp's SGD settings (configs/trainers/CoOp/vit_b16.yaml and Dassl's defaults). */
const sgdSettings = { learningRate: 0.002, momentum: 0.9, weightDecay: 5e-4 };
const imageCount = 32;
const template = 'a photo of a {}.';

function randomTensor(random, shape, std = 1) {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = std * random.normal();
  return tf.tensor(values, shape);
}

/**
 * Picks `count` classes spread over the list, starting with one whose prompt is longest, so a reduced set
 * runs on the same sequence length as all 100 classes.
 */
function pickClasses(tokenizer, count) {
  const lengths = classNames.map((name) => tokenizer.encode(`${name}.`).length);
  const longest = lengths.indexOf(Math.max(...lengths));
  const others = classNames.filter((_, i) => i !== longest);
  const spread = Array.from({ length: count - 1 }, (_, i) => others[Math.floor((i * others.length) / Math.max(1, count - 1))]);
  return [classNames[longest], ...spread];
}

/** Returns a view of the backbone without the shared-prefix encoder: prompts run as whole sequences, still cut after the last EOT. */
function withoutSharedPrefix(backbone) {
  const view = Object.create(backbone);
  Object.defineProperty(view, 'encodeTextWithSharedPrefix', { value: undefined });
  return view;
}

/**
 * Returns a view of the backbone that encodes every prompt at the full context length, as CoOp's PyTorch code
 * does. encodeTextEmbeddings cuts the batch after its last EOT, so the view pads the prompts to 77 positions
 * and adds one filler row whose EOT is at the last position. Rows do not interact, so the real rows' features
 * are unchanged (test/prompt-prefix.test.ts checks this), and the filler row's features are dropped.
 */
function atFullLength(backbone) {
  const view = withoutSharedPrefix(backbone);
  const length = vitB16Config.text.contextLength;
  Object.defineProperty(view, 'encodeTextEmbeddings', {
    value: (embeddings, eot, hooks) =>
      tf.tidy(() => {
        const [rows, tokens, width] = embeddings.shape;
        const padded = tf.concat([embeddings, tf.zeros([rows, length - tokens, width])], 1);
        const filler = tf.zeros([1, length, width]);
        const features = backbone.encodeTextEmbeddings(tf.concat([padded, filler], 0), [...eot, length - 1], hooks);
        return tf.slice(features, [0, 0], [rows, -1]);
      }),
  });
  return view;
}

/** Builds a CoOp module for `names` and a closure running one training step on `view`. */
function coopStep(backbone, view, names, seed) {
  const method = lib.getMethod('coop');
  const module = method.create({ backbone, classNames: names, config: lib.resolveConfig(method, {}), random: lib.createRandom(seed), template });
  const random = lib.createRandom(seed + 1);
  const features = new lib.FeatureCache();
  const context = { backbone: view, features, training: true, random };
  const imageFeatures = randomTensor(random, [imageCount, vitB16Config.embedDim]); // frozen, as the engine caches them
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: imageCount }, () => random.int(names.length)), 'int32'), names.length);
  const parameters = module.parameters();
  const optimizer = lib.sgd(parameters, sgdSettings.momentum, sgdSettings.weightDecay);
  const nameOf = new Map([...parameters].map(([name, variable]) => [variable.name, name]));

  const step = async () => {
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, module.logits(context, { imageFeatures })), [...parameters.values()]);
    optimizer.step(new Map(Object.entries(grads).map(([name, gradient]) => [nameOf.get(name), gradient])), sgdSettings.learningRate);
    const loss = (await value.data())[0];
    tf.dispose([value, ...Object.values(grads)]);
    return loss;
  };
  const logits = () => module.logits({ backbone: view, features, training: false }, { imageFeatures });
  const dispose = () => {
    optimizer.dispose();
    features.dispose();
    module.dispose();
    tf.dispose([imageFeatures, labels]);
  };
  return { step, logits, dispose };
}

/** Runs `step` once as a warm-up, then `repetitions` times; returns median wall-clock and process CPU milliseconds. */
async function measure(step) {
  await step();
  const wall = [];
  const cpu = [];
  for (let i = 0; i < repetitions; i++) {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    await step();
    wall.push(performance.now() - start);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1000);
  }
  return { medianMs: median(wall), runsMs: wall, cpuMedianMs: median(cpu) };
}

/** Text-tower rows (tokens of all sequences) each variant computes, for a prompt set whose longest EOT sits at `maxEot`. */
function rowCounts(classes, maxEot) {
  const prefix = 1 + contextTokens;
  return {
    sharedPrefix: prefix + classes * (maxEot + 1 - prefix),
    cutOnly: classes * (maxEot + 1),
    fullLength: (classes + 1) * vitB16Config.text.contextLength,
  };
}

/** Max |difference| between the logits of one module through each variant, as a check that they compute the same step. */
function variantAgreement(backbone, names) {
  const method = lib.getMethod('coop');
  const module = method.create({ backbone, classNames: names, config: lib.resolveConfig(method, {}), random: lib.createRandom(7), template });
  const features = new lib.FeatureCache();
  const imageFeatures = randomTensor(lib.createRandom(8), [4, vitB16Config.embedDim]);
  const [shared, cut, full] = [backbone, withoutSharedPrefix(backbone), atFullLength(backbone)].map((view) =>
    module.logits({ backbone: view, features, training: true }, { imageFeatures }),
  );
  const difference = (a, b) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
  const agreement = { cutOnly: difference(shared, cut), fullLength: difference(shared, full) };
  tf.dispose([shared, cut, full, imageFeatures]);
  features.dispose();
  module.dispose();
  return agreement;
}

/** Runs bench/coop_torch.py on the 100 prompts at the full context length. */
function runTorch(tokenizer) {
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) return { skipped: `${python} cannot import torch; set VLM_COMPAT_PYTHON to a Python with torch` };
  const batch = tokenizer.tokenize(classNames.map(promptText), vitB16Config.text.contextLength);
  const ids = Array.from({ length: batch.n }, (_, row) => Array.from(batch.ids.subarray(row * batch.contextLength, (row + 1) * batch.contextLength)));
  const request = { threads: os.availableParallelism(), repetitions, config: vitB16Config, ids, eot: batch.eot, contextTokens, images: imageCount, ...sgdSettings };
  process.stderr.write(`bench: PyTorch CoOp step, ${batch.n} classes at ${batch.contextLength} tokens\n`);
  const child = spawnSync(python, [join(benchFolder, 'coop_torch.py')], { input: JSON.stringify(request), encoding: 'utf8', stdio: ['pipe', 'pipe', 'inherit'] });
  if (child.status !== 0) return { error: `bench/coop_torch.py exited with status ${child.status}; its error output is above` };
  return JSON.parse(child.stdout);
}

/**
 * Estimates the step time at `rows` text-tower rows from two measured points by the line through them: a
 * fixed cost per step plus a cost per row. When noise makes the slope non-positive, falls back to scaling the
 * larger point in proportion to rows, which overestimates by the fixed cost.
 */
function extrapolate(points, rows) {
  const [a, b] = [...points].sort((p, q) => p.rows - q.rows);
  const perRowMs = (b.medianMs - a.medianMs) / (b.rows - a.rows);
  if (perRowMs > 0) return { at100Ms: a.medianMs + perRowMs * (rows - a.rows), fixedMs: a.medianMs - perRowMs * a.rows, perRowMs, method: 'line through two points' };
  return { at100Ms: (b.medianMs * rows) / b.rows, method: 'proportional to rows (noisy points)' };
}

function formatMs(ms) {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

async function main() {
  lib.setLogger(lib.createLogger('warn'));
  const backend = await lib.initBackend({ backend: 'wasm' });
  const workaround = registerMissingWasmKernels();
  const loadBefore = os.loadavg()[0];

  const tokenizer = createPromptTokenizer(lib, classNames.map(promptText));
  const identity = { family: 'clip', name: 'ViT-B-16-random', revision: 'none', weightsSha256: '0'.repeat(64) };
  const backbone = new lib.ClipBackbone(identity, vitB16Config, lib.initClipCanonical(vitB16Config, lib.createRandom(0)), tokenizer, lib.openaiClipPreprocess(224));
  const maxEot = Math.max(...classNames.map((name) => tokenizer.encode(`${name}.`).length)) + 1 + contextTokens;

  const measureVariant = async (label, view, classCount) => {
    const names = classCount === classNames.length ? classNames : pickClasses(tokenizer, classCount);
    process.stderr.write(`bench: ${label}, ${names.length} classes\n`);
    const run = coopStep(backbone, view, names, 1);
    const timing = await measure(run.step);
    run.dispose();
    return { classes: names.length, ...timing };
  };
  const rowsAt100 = rowCounts(classNames.length, maxEot);

  const sharedPrefix = { label: 'vlm-compat: shared prefix + EOT cut', points: [await measureVariant('shared prefix + EOT cut', backbone, classNames.length)] };
  sharedPrefix.points[0].rows = rowsAt100.sharedPrefix;
  sharedPrefix.at100Ms = sharedPrefix.points[0].medianMs;

  const reduced = [];
  for (const [key, label, view, counts] of [
    ['cutOnly', 'vlm-compat: EOT cut only', withoutSharedPrefix(backbone), cutClasses],
    ['fullLength', 'vlm-compat: full 77 tokens', atFullLength(backbone), fullClasses],
  ]) {
    const points = [];
    for (const count of counts) points.push({ ...(await measureVariant(label, view, count)), rows: rowCounts(count, maxEot)[key] });
    reduced.push({ key, label, points, ...extrapolate(points, rowsAt100[key]) });
  }
  const agreement = variantAgreement(backbone, pickClasses(tokenizer, 3));
  backbone.dispose();

  const torch = options['skip-torch'] ? { skipped: '--skip-torch' } : runTorch(tokenizer);
  const loadAfter = os.loadavg()[0];

  const reference = sharedPrefix.at100Ms;
  const lines = [
    `CoOp training step at CLIP ViT-B/16 text shapes (random weights): ${classNames.length} classes, ${contextTokens} context tokens, ${imageCount} frozen image features, SGD`,
    `machine: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.availableParallelism()} cores, load average ${loadBefore.toFixed(1)} before and ${loadAfter.toFixed(1)} after; vlm-compat ${lib.version} on ${backend.name} (1 thread); median of ${repetitions} after a warm-up`,
    '',
    'variant                                    classes   rows   median step      CPU',
  ];
  const row = (label, classes, rows, wallMs, cpuMs) =>
    `${label.padEnd(42)} ${String(classes).padStart(7)} ${String(rows).padStart(6)}   ${formatMs(wallMs).padStart(11)}   ${formatMs(cpuMs).padStart(7)}`;
  for (const variant of [sharedPrefix, ...reduced]) for (const p of variant.points) lines.push(row(variant.label, p.classes, p.rows, p.medianMs, p.cpuMedianMs));
  if (torch.medianMs !== undefined) {
    lines.push(row(`PyTorch ${torch.torch} CoOp (${torch.threads} threads)`, torch.classes, torch.classes * torch.sequenceLength, torch.medianMs, torch.cpuMedianMs));
  } else {
    lines.push(`PyTorch: ${torch.skipped ?? torch.error}`);
  }

  lines.push('', `at ${classNames.length} classes (wall-clock):`);
  lines.push(`  shared prefix + EOT cut   ${formatMs(reference)} (measured)`);
  for (const variant of reduced) {
    const fit = variant.fixedMs === undefined ? '' : `, fixed ${formatMs(variant.fixedMs)} + ${variant.perRowMs.toFixed(1)} ms per row`;
    lines.push(`  ${variant.label.replace('vlm-compat: ', '').padEnd(24)}  ${formatMs(variant.at100Ms)} (estimated: ${variant.method}${fit}), ${(variant.at100Ms / reference).toFixed(1)}x the shared-prefix step`);
  }
  if (torch.medianMs !== undefined) {
    lines.push(`  PyTorch                   ${formatMs(torch.medianMs)} (measured)`);
    lines.push(`vlm-compat step / PyTorch step: ${(reference / torch.medianMs).toFixed(2)} wall-clock, ${(sharedPrefix.points[0].cpuMedianMs / torch.cpuMedianMs).toFixed(2)} CPU time`);
  }
  lines.push(`max |logit difference| against the shared-prefix path: EOT cut only ${agreement.cutOnly.toExponential(1)}, full 77 tokens ${agreement.fullLength.toExponential(1)}`);
  if (workaround !== undefined) lines.push(`note: ${workaround}`);
  process.stdout.write(lines.join('\n') + '\n');

  const summary = { date: new Date().toISOString(), backend: backend.name, repetitions, loadAverage: { before: loadBefore, after: loadAfter }, sharedPrefix, reduced, torch, agreement };
  process.stdout.write(JSON.stringify(summary) + '\n');
  if (torch.error !== undefined) process.exitCode = 1;
}

await main();
