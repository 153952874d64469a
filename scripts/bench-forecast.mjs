#!/usr/bin/env node
// Measures what the label-free compatibility forecast costs next to the transplanted evaluation it
// anticipates, and writes results.json files whose cells carry forecast evidence and measured retention,
// the input of scripts/fit-forecast.mjs. Needs a build that exports the forecast API (npm run build).
//
// Real backbones and a CoOp-format data set (the unlabeled images are the training pool, labels unread):
//   node scripts/bench-forecast.mjs --source models/mini-clip-v1 --target models/mini-clip-v2 \
//        --dataset data/emoji-tasks --split split_zhou_EmojiCategory.json --out bench/results/forecast
// Random tiny CLIP pairs at several amounts of weight drift, on a synthetic task (no downloads, minutes):
//   node scripts/bench-forecast.mjs --tiny --out /tmp/forecast-tiny

import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as lib from 'vlm-compat';

const usage = `Usage: node scripts/bench-forecast.mjs [--tiny | --source B --target B --dataset DIR] [options]

Options:
  --source B, --target B   backbone names or folders (default models/mini-clip-v1, models/mini-clip-v2)
  --dataset DIR            CoOp-format data set root (default data/emoji-tasks)
  --split FILE             split file inside DIR (default: the first split_zhou_*.json)
  --template TEXT          zero-shot prompt template with {} for the class name (default: the data set's)
  --tiny                   random tiny CLIP pairs at drifts 0 to 1 on a synthetic task instead
  --train-per-class N      --tiny only: images per class in the training pool, which is also the unlabeled set (default 16)
  --test-per-class N       --tiny only: test images per class (default 40)
  --methods LIST           comma-separated tuning methods (default clip-adapter,tip-adapter,taskres,linear-probe,coop,vpt-deep,clip-lora)
  --shots K                training examples per class (default 4)
  --seeds LIST             comma-separated seeds (default 1)
  --epochs N               training epochs for every method (default: the method's own)
  --max-images N           unlabeled images the forecast encodes (default: 5% of the test split, 16 to 128)
  --backend NAME           tensor backend: wasm, cpu, tensorflow (default: the fastest installed)
  --out DIR                folder for one results.json per backbone pair and bench.json (default: print only)`;

const defaultMethods = ['clip-adapter', 'tip-adapter', 'taskres', 'linear-probe', 'coop', 'vpt-deep', 'clip-lora'];

/** Class names of the synthetic task; every one is a plain English word the mini tokenizer can spell. */
const syntheticClasses = ['cat', 'dog', 'bird', 'apple', 'car', 'tree'];

/** Weight drifts of the tiny pairs: the target is (1 − drift) · source + drift · an unrelated backbone. */
const drifts = [0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1];

function list(text, fallback) {
  return text === undefined ? fallback : text.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

function positiveInteger(name, text, fallback) {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} ${JSON.stringify(text)} is not a positive integer`);
  return value;
}

/** Returns the tiny CLIP shape: 2 layers per tower, 32 px images, a 32-wide embedding space. */
function tinyConfig(vocabSize) {
  return {
    embedDim: 32,
    text: { width: 32, layers: 2, heads: 2, mlpWidth: 64, activation: 'quick_gelu', layerNormEps: 1e-5, contextLength: 24, vocabSize },
    vision: { width: 32, layers: 2, heads: 2, mlpWidth: 64, activation: 'quick_gelu', layerNormEps: 1e-5, imageSize: 32, patchSize: 8 },
  };
}

/** Mixes two canonical weight maps: (1 − drift) · a + drift · b, tensor by tensor. */
function mixWeights(a, b, drift) {
  const mixed = new Map();
  for (const [name, tensor] of a) mixed.set(name, tf.tidy(() => tf.add(tf.mul(tensor, 1 - drift), tf.mul(b.get(name), drift))));
  return mixed;
}

/** Builds the tiny source and its drifted targets, sharing the mini backbones' tokenizer. */
async function tinyPairs() {
  const tokenizerFolder = join(process.cwd(), 'models', 'mini-clip-v1');
  const config = tinyConfig((await lib.loadClipTokenizer(tokenizerFolder)).vocabSize);
  const backbone = async (name, canonical) =>
    new lib.ClipBackbone({ family: 'clip', name, revision: 'random', weightsSha256: name.padStart(64, '0') }, config, canonical, await lib.loadClipTokenizer(tokenizerFolder), lib.openaiClipPreprocess(config.vision.imageSize));
  const base = lib.initClipCanonical(config, lib.createRandom(1), 0.2);
  const other = lib.initClipCanonical(config, lib.createRandom(2), 0.2);
  const source = await backbone('tiny-source', base);
  const targets = [];
  for (const drift of drifts) targets.push(await backbone(`tiny-drift-${drift}`, mixWeights(base, other, drift)));
  other.forEach((t) => t.dispose());
  return { source, targets, imageSize: config.vision.imageSize };
}

/** Draws a split of the synthetic task, whose examples are a random prototype image per class plus noise. */
function syntheticSplit(perClass, imageSize, seed, prototypes) {
  const random = lib.createRandom(seed);
  const size = imageSize * imageSize * 3;
  const pixels = new Float32Array(prototypes.length * perClass * size);
  const labels = new Int32Array(prototypes.length * perClass);
  let row = 0;
  prototypes.forEach((prototype, label) => {
    for (let i = 0; i < perClass; i++, row++) {
      labels[row] = label;
      for (let j = 0; j < size; j++) pixels[row * size + j] = prototype[j] + 0.8 * random.normal();
    }
  });
  return new lib.TensorImageSource(tf.tensor4d(pixels, [labels.length, imageSize, imageSize, 3]), labels, `synthetic-${seed}`);
}

function syntheticDataset(imageSize, trainPerClass, testPerClass) {
  const random = lib.createRandom(7);
  const prototypes = syntheticClasses.map(() => Float32Array.from({ length: imageSize * imageSize * 3 }, () => random.normal()));
  const train = syntheticSplit(trainPerClass, imageSize, 11, prototypes);
  const test = syntheticSplit(testPerClass, imageSize, 12, prototypes);
  return { dataset: lib.fixedDataset('synthetic', syntheticClasses, 'a photo of a {}.', train, test), dispose: () => [train, test].forEach((x) => x.dispose()) };
}

async function realPair(values) {
  const root = values.dataset ?? 'data/emoji-tasks';
  const split = values.split ?? (await readdir(root)).filter((name) => /^split_zhou_.*\.json$/.test(name)).sort()[0];
  if (split === undefined) throw new Error(`${root} has no split_zhou_*.json; pass --split`);
  const loaded = await lib.loadCoopSplit({ root, name: split.replace(/^split_zhou_|\.json$/g, ''), splitFile: split, ...(values.template === undefined ? {} : { template: values.template }) });
  const source = await lib.loadBackbone(values.source ?? 'models/mini-clip-v1');
  const target = await lib.loadBackbone(values.target ?? 'models/mini-clip-v2');
  return { source, targets: [target], dataset: lib.transferDataset(loaded), dispose: () => {} };
}

/**
 * Runs one cell without a forecast, then the forecast on its own, each with a fresh feature cache so that
 * neither reuses the other's work, and attaches the forecast to the cell. The forecast reads only the
 * module's attachment, class names and template, so it runs on an untrained module of the same method.
 */
async function timedCell(task, forecastOptions) {
  const evaluationCache = new lib.FeatureCache();
  const started = performance.now();
  const result = await lib.evaluateTransfer({ ...task, forecast: false, features: evaluationCache })();
  const seconds = (performance.now() - started) / 1000;
  evaluationCache.dispose();
  if (result._tag === 'Left') return { error: lib.describePipelineError(result.left) };

  const method = lib.getMethod(task.method);
  const module = method.create({ backbone: task.source, classNames: task.dataset.classNames, config: lib.resolveConfig(method, {}), random: lib.createRandom(task.seed), template: task.dataset.template });
  const forecastCache = new lib.FeatureCache();
  const maxImages = forecastOptions.maxImages ?? lib.forecastImageBudget(task.dataset.test(task.target).size);
  const forecast = await lib.forecastCompatibility(module, task.source, task.target, task.unlabeled, { maxImages, seed: task.seed, features: forecastCache });
  forecastCache.dispose();
  module.dispose();

  const cell = { ...result.right, forecast };
  const training = cell.cost.train.seconds;
  return { cell, forecast: forecast.seconds, training, evaluation: seconds - training };
}

async function main() {
  const { values } = parseArgs({
    options: {
      source: { type: 'string' },
      target: { type: 'string' },
      dataset: { type: 'string' },
      split: { type: 'string' },
      template: { type: 'string' },
      tiny: { type: 'boolean' },
      'train-per-class': { type: 'string' },
      'test-per-class': { type: 'string' },
      methods: { type: 'string' },
      shots: { type: 'string' },
      seeds: { type: 'string' },
      epochs: { type: 'string' },
      'max-images': { type: 'string' },
      backend: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return console.log(usage);

  const backend = await lib.initBackend(values.backend === undefined ? {} : { backend: values.backend });
  const methods = list(values.methods, defaultMethods);
  const seeds = list(values.seeds, ['1']).map((seed) => positiveInteger('seeds', seed));
  const shots = positiveInteger('shots', values.shots, 4);
  const maxImages = values['max-images'] === undefined ? undefined : positiveInteger('max-images', values['max-images']);
  const epochs = values.epochs === undefined ? undefined : positiveInteger('epochs', values.epochs);

  let pairs;
  let data;
  if (values.tiny) {
    pairs = await tinyPairs();
    data = syntheticDataset(pairs.imageSize, positiveInteger('train-per-class', values['train-per-class'], 16), positiveInteger('test-per-class', values['test-per-class'], 40));
  } else {
    const real = await realPair(values);
    pairs = real;
    data = real;
  }

  const rows = [];
  if (values.out !== undefined) await mkdir(values.out, { recursive: true });
  for (const target of pairs.targets) {
    const cells = [];
    for (const method of methods) {
      for (const seed of seeds) {
        const timed = await timedCell({
          source: pairs.source,
          target,
          dataset: data.dataset,
          method,
          ...(epochs === undefined ? {} : { training: { epochs } }),
          seed,
          shots,
          retrain: false,
          bootstrapSamples: 0,
          unlabeled: (backbone) => data.dataset.train(backbone),
        }, maxImages === undefined ? {} : { maxImages });
        if (timed.error !== undefined) {
          console.log(`${target.identity.name} ${method} seed ${seed}: failed (${timed.error})`);
          continue;
        }
        cells.push(timed.cell);
        const retention = timed.cell.metrics.find((metric) => metric.name === 'retention')?.value;
        const row = {
          target: target.identity.name,
          method,
          seed,
          forecastSeconds: timed.forecast,
          evaluationSeconds: timed.evaluation,
          trainingSeconds: timed.training,
          forecastShare: timed.forecast / timed.evaluation,
          predictedRetention: timed.cell.forecast?.predictedRetention,
          measuredRetention: retention,
        };
        rows.push(row);
        console.log(
          `${row.target.padEnd(16)} ${method.padEnd(14)} seed ${seed}: forecast ${row.forecastSeconds.toFixed(2)} s, ` +
            `transplanted evaluation ${row.evaluationSeconds.toFixed(2)} s (${(100 * row.forecastShare).toFixed(1)}%), training ${row.trainingSeconds.toFixed(2)} s, ` +
            `retention predicted ${row.predictedRetention?.toFixed(3)} measured ${retention?.toFixed(3)}`,
        );
      }
    }
    if (values.out !== undefined) {
      const results = {
        schema: 'vlm-compat-results',
        schemaVersion: lib.resultsSchemaVersion,
        libraryVersion: lib.version,
        createdAt: new Date().toISOString(),
        source: { identity: pairs.source.identity, dims: pairs.source.dims },
        target: { identity: target.identity, dims: target.dims },
        settings: { methods, seeds, shots, epochs: epochs ?? null, maxImages: maxImages ?? 'default', tiny: values.tiny ?? false, backend: backend.name },
        cells,
      };
      await writeFile(join(values.out, `results-${target.identity.name}.json`), JSON.stringify(results) + '\n');
    }
  }

  const shares = rows.map((row) => row.forecastShare).sort((a, b) => a - b);
  const summary = {
    backend: backend.name,
    cells: rows.length,
    medianForecastShare: shares[Math.floor(shares.length / 2)],
    maxForecastShare: shares[shares.length - 1],
    rows,
  };
  console.log(`forecast cost over the transplanted evaluation: median ${(100 * summary.medianForecastShare).toFixed(1)}%, max ${(100 * summary.maxForecastShare).toFixed(1)}% over ${rows.length} cells on ${backend.name}`);
  if (values.out !== undefined) await writeFile(join(values.out, 'bench.json'), JSON.stringify(summary, null, 2) + '\n');

  data.dispose();
  pairs.source.dispose();
  pairs.targets.forEach((target) => target.dispose());
}

main().catch((error) => {
  console.error(`bench-forecast: ${error.stack ?? error.message}`);
  process.exitCode = 1;
});
