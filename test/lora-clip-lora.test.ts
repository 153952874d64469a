import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureCache, cosineLogits } from '../src/adapters/features.js';
import { clipLoraEpochs, clipLoraMethod, type ClipLoraConfig } from '../src/adapters/lora/index.js';
import { getMethod, resolveConfig } from '../src/adapters/registry.js';
import { loadModule, saveModule } from '../src/adapters/save.js';
import type { TuningMethod, TuningModule } from '../src/adapters/types.js';
import { ClipBackbone } from '../src/backbones/clip/model.js';
import { openaiClipPreprocess } from '../src/backbones/preprocess.js';
import { clipTokenizerFromVocabMerges } from '../src/backbones/tokenizer.js';
import { createRandom } from '../src/runtime/random.js';
import { accuracy, predict } from '../src/training/predict.js';
import type { TensorImageSource } from '../src/training/tensor-source.js';
import { trainModule } from '../src/training/train.js';
import { tinyClipCanonical, tinyClipConfig } from './fixtures/tiny-clip.js';
import { buildTinyClipVocab } from './fixtures/tiny-tokenizer.js';
import { tinyBackbone, tinyClassNames, tinyTask } from './fixtures/tiny-task.js';

const method = clipLoraMethod as unknown as TuningMethod<unknown>;
const template = 'a photo of a {}.';
let source: ClipBackbone;
let target: ClipBackbone;
let wide: ClipBackbone;
let data: TensorImageSource;
let pixels: tf.Tensor4D;

/** A tiny CLIP whose towers are wider than the fixture's, for transplants that must fail. */
function wideBackbone(): ClipBackbone {
  const base = tinyClipConfig('quick_gelu');
  const config = { ...base, text: { ...base.text, width: 48, mlpWidth: 96 }, vision: { ...base.vision, width: 36, mlpWidth: 72 } };
  const { vocab, merges } = buildTinyClipVocab();
  const identity = { family: 'clip', name: 'tiny-wide', revision: 'test', weightsSha256: 'f'.repeat(64) };
  return new ClipBackbone(identity, config, tinyClipCanonical(config, 5), clipTokenizerFromVocabMerges(vocab, merges), openaiClipPreprocess(16));
}

function create(config: Partial<ClipLoraConfig> = {}, backbone: ClipBackbone = source, seed = 0): TuningModule {
  return method.create({ backbone, classNames: tinyClassNames, config: resolveConfig(method, config), random: createRandom(seed), template });
}

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

/** Sets every B of a module to seeded random values, so that its deltas are non-zero. */
function randomizeB(module: TuningModule, seed: number): void {
  const random = createRandom(seed);
  for (const [name, variable] of module.parameters()) {
    if (!name.endsWith('.lora_b')) continue;
    const values = Float32Array.from({ length: variable.size }, () => random.normal() * 0.5);
    tf.tidy(() => variable.assign(tf.tensor(values, variable.shape)));
  }
}

beforeAll(async () => {
  source = tinyBackbone(1);
  target = tinyBackbone(2);
  wide = wideBackbone();
  data = tinyTask(2);
  pixels = await data.images([0, 1, 2, 3, 4, 5, 6, 7], 16);
});

afterAll(() => {
  for (const backbone of [source, target, wide]) backbone.dispose();
  data.dispose();
  pixels.dispose();
});

describe('clip-lora config', () => {
  it('is registered under its name', () => {
    expect(getMethod('clip-lora')).toBe(clipLoraMethod);
  });

  it('defaults to the official settings', () => {
    expect(resolveConfig(method, {})).toEqual({ rank: 2, alpha: 1, scaling: 'sqrt-rank', dropout: 0.25, projections: ['q', 'k', 'v'], towers: ['text', 'vision'], layers: 'all' });
  });

  it('rejects a zero rank', () => {
    expect(() => resolveConfig(method, { rank: 0 })).toThrow(/rank = 0/);
  });

  it('rejects an unknown projection', () => {
    expect(() => resolveConfig(method, { projections: ['q', 'mlp_in'] })).toThrow(/projections\.1 = "mlp_in"/);
  });

  it('rejects a dropout of 1', () => {
    expect(() => resolveConfig(method, { dropout: 1 })).toThrow(/dropout = 1/);
  });

  it('rejects repeated towers', () => {
    expect(() => resolveConfig(method, { towers: ['text', 'text'] })).toThrow(/towers = \["text","text"\]/);
  });

  it('rejects a layer the backbone lacks', () => {
    expect(() => create({ layers: [0, 5] })).toThrow(/layers 5 do not exist in the 2-layer text tower/);
  });
});

describe('clip-lora parameters', () => {
  it('has A and B per site', () => {
    const module = create();
    expect(module.parameters().size).toBe(2 * 2 * 3 * 2);
    expect(module.parameters().get('text.1.k.lora_a')?.shape).toEqual([32, 2]);
    expect(module.parameters().get('vision.0.v.lora_b')?.shape).toEqual([2, 24]);
    module.dispose();
  });

  it('draws A within the nn.Linear bound', () => {
    const module = create();
    const values = module.parameters().get('vision.1.q.lora_a')!.dataSync();
    expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(24));
    module.dispose();
  });

  it('starts B at zero', () => {
    const module = create();
    expect(module.parameters().get('text.0.v.lora_b')!.dataSync().every((value) => value === 0)).toBe(true);
    module.dispose();
  });

  it('records depth and needs', () => {
    const module = create();
    expect(module.attachment).toEqual({
      depth: 'both-layers',
      towers: ['text', 'vision'],
      layers: { text: [0, 1], vision: [0, 1] },
      text: 'backprop',
      vision: 'backprop',
    });
    module.dispose();
  });

  it('reads frozen features without the vision tower', () => {
    const module = create({ towers: ['text'] });
    expect(module.attachment.vision).toBe('frozen-features');
    module.dispose();
  });

  it('converts the official schedule to epochs', () => {
    expect(clipLoraEpochs(47, 16)).toBe(334);
  });
});

describe('clip-lora logits', () => {
  it('equals zero-shot exactly while B is zero', () => {
    const features = new FeatureCache();
    const module = create();
    const logits = module.logits({ backbone: source, features, training: false }, { images: pixels });
    const zeroShot = tf.tidy(() => cosineLogits(source.encodeImage(pixels), features.zeroShotClassifier(source, tinyClassNames, template), source.logitScale));
    expect(maxDifference(logits, zeroShot)).toBe(0);
    tf.dispose([logits, zeroShot]);
    module.dispose();
    features.dispose();
  });

  it('changes once B is non-zero', () => {
    const features = new FeatureCache();
    const module = create();
    const before = module.logits({ backbone: source, features, training: false }, { images: pixels });
    randomizeB(module, 3);
    const after = module.logits({ backbone: source, features, training: false }, { images: pixels });
    expect(maxDifference(before, after)).toBeGreaterThan(1e-3);
    tf.dispose([before, after]);
    module.dispose();
    features.dispose();
  });

  it('applies no dropout at inference', () => {
    const features = new FeatureCache();
    const module = create();
    randomizeB(module, 3);
    const plain = module.logits({ backbone: source, features, training: false }, { images: pixels });
    const withRandom = module.logits({ backbone: source, features, training: false, random: createRandom(9) }, { images: pixels });
    expect(maxDifference(plain, withRandom)).toBe(0);
    tf.dispose([plain, withRandom]);
    module.dispose();
    features.dispose();
  });

  it('applies seeded dropout in training', () => {
    const features = new FeatureCache();
    const module = create();
    randomizeB(module, 3);
    const inference = module.logits({ backbone: source, features, training: false }, { images: pixels });
    const first = module.logits({ backbone: source, features, training: true, random: createRandom(9) }, { images: pixels });
    const again = module.logits({ backbone: source, features, training: true, random: createRandom(9) }, { images: pixels });
    expect(maxDifference(first, inference)).toBeGreaterThan(1e-4);
    expect(maxDifference(first, again)).toBe(0);
    tf.dispose([inference, first, again]);
    module.dispose();
    features.dispose();
  });

  it('frees its parameters on dispose', () => {
    const before = tf.memory().numTensors;
    create().dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects training without a random source', () => {
    const features = new FeatureCache();
    const module = create();
    expect(() => module.logits({ backbone: source, features, training: true }, { images: pixels })).toThrow(/context\.random/);
    module.dispose();
    features.dispose();
  });

  it('frees every intermediate tensor', () => {
    const features = new FeatureCache();
    const module = create();
    randomizeB(module, 3);
    tf.dispose(module.logits({ backbone: source, features, training: true, random: createRandom(1) }, { images: pixels }));
    const before = tf.memory().numTensors;
    tf.dispose(module.logits({ backbone: source, features, training: true, random: createRandom(1) }, { images: pixels }));
    tf.dispose(module.logits({ backbone: source, features, training: false }, { images: pixels }));
    expect(tf.memory().numTensors).toBe(before);
    module.dispose();
    features.dispose();
  });
});

describe('clip-lora transplant', () => {
  it('runs on a second backbone of the same widths', () => {
    const features = new FeatureCache();
    const module = create();
    randomizeB(module, 3);
    const logits = module.logits({ backbone: target, features, training: false }, { images: pixels });
    expect(logits.shape).toEqual([8, 4]);
    expect(logits.dataSync().every(Number.isFinite)).toBe(true);
    logits.dispose();
    module.dispose();
    features.dispose();
  });

  it('adds the deltas to the target projections', () => {
    const features = new FeatureCache();
    const module = create();
    randomizeB(module, 3);
    const transplanted = module.logits({ backbone: target, features, training: false }, { images: pixels });
    const zeroShot = tf.tidy(() => cosineLogits(target.encodeImage(pixels), features.zeroShotClassifier(target, tinyClassNames, template), target.logitScale));
    expect(maxDifference(transplanted, zeroShot)).toBeGreaterThan(1e-3);
    tf.dispose([transplanted, zeroShot]);
    module.dispose();
    features.dispose();
  });

  it('names both widths on a wider backbone', () => {
    const features = new FeatureCache();
    const module = create();
    const widePixels = tf.zeros([1, 16, 16, 3]) as tf.Tensor4D;
    expect(() => module.logits({ backbone: wide, features, training: false }, { images: widePixels })).toThrow(/text width 32.*tiny-wide has text width 48/);
    widePixels.dispose();
    module.dispose();
    features.dispose();
  });

  it('names the vision widths for a vision-only module', () => {
    const features = new FeatureCache();
    const module = create({ towers: ['vision'] });
    const widePixels = tf.zeros([1, 16, 16, 3]) as tf.Tensor4D;
    expect(() => module.logits({ backbone: wide, features, training: false }, { images: widePixels })).toThrow(/vision width 24.*vision width 36/);
    widePixels.dispose();
    module.dispose();
    features.dispose();
  });
});

describe('clip-lora training', () => {
  it('beats zero-shot, keeps the backbone and frees its tensors', async () => {
    const features = new FeatureCache();
    const zeroShot = await predict(undefined, source, features, data, { classNames: tinyClassNames, template });
    const weightsBefore = new Map([...source.weights()].map(([name, t]) => [name, t.dataSync().slice()]));
    const module = create();
    const before = tf.memory().numTensors;

    await trainModule(module, source, features, data, { method, seed: 1, epochs: 12, batchSize: 8, learningRate: 0.02, augment: false });
    expect(tf.memory().numTensors).toBe(before);

    const trained = await predict(module, source, features, data);
    expect(accuracy(trained.predictions, data.labels)).toBeGreaterThan(accuracy(zeroShot.predictions, data.labels));
    for (const [name, t] of source.weights()) expect(t.dataSync(), name).toEqual(weightsBefore.get(name));
    module.dispose();
    features.dispose();
  });

  it('gives the same module for the same seed', async () => {
    const features = new FeatureCache();
    const a = create();
    const b = create();
    await trainModule(a, source, features, data, { method, seed: 4, epochs: 1, batchSize: 4, learningRate: 0.02 });
    await trainModule(b, source, features, data, { method, seed: 4, epochs: 1, batchSize: 4, learningRate: 0.02 });
    expect(a.parameters().get('vision.1.v.lora_b')!.dataSync()).toEqual(b.parameters().get('vision.1.v.lora_b')!.dataSync());
    a.dispose();
    b.dispose();
    features.dispose();
  });
});

describe('clip-lora save and load', () => {
  it('restores identical logits and the source record', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'vlm-compat-clip-lora-'));
    const features = new FeatureCache();
    const module = create({ layers: [1], projections: ['v', 'out'] });
    randomizeB(module, 5);
    try {
      await saveModule(module, folder);
      const { module: loaded, manifest } = await loadModule(folder);
      const expected = module.logits({ backbone: source, features, training: false }, { images: pixels });
      const actual = loaded.logits({ backbone: source, features, training: false }, { images: pixels });
      expect(maxDifference(expected, actual)).toBe(0);
      expect(manifest.source.identity).toEqual(source.identity);
      expect(manifest.source.tokenizer).toEqual(source.tokenizer.source);
      expect([...loaded.parameters().keys()].sort()).toEqual([...module.parameters().keys()].sort());
      tf.dispose([expected, actual]);
      loaded.dispose();
    } finally {
      module.dispose();
      features.dispose();
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('rejects saved tensors of another shape', () => {
    const module = create({ layers: [0] });
    const manifest = { format: 'vlm-compat-module', formatVersion: 1, method: 'clip-lora', kind: 'lora', config: module.config, classNames: tinyClassNames, template, source: module.source, tensors: [], dtype: 'F32', libraryVersion: 'test' } as const;
    const tensors = new Map<string, tf.Tensor>([...module.parameters()].map(([name, v]) => [name, name === 'text.0.q.lora_a' ? tf.zeros([5, 2]) : v.clone()]));
    const before = tf.memory().numTensors - tensors.size;
    expect(() => clipLoraMethod.restore(manifest, tensors)).toThrow(/text\.0\.q\.lora_a: saved \[5,2\], expected \[32,2\]/);
    expect(tf.memory().numTensors).toBe(before);
    module.dispose();
  });
});
