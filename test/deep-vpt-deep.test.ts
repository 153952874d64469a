import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vptDeepMethod, type VptDeepConfig } from '../src/adapters/deep/index.js';
import { FeatureCache, cosineLogits } from '../src/adapters/features.js';
import { getMethod, resolveConfig } from '../src/adapters/registry.js';
import { loadModule, saveModule } from '../src/adapters/save.js';
import type { TuningMethod, TuningModule } from '../src/adapters/types.js';
import { ClipBackbone } from '../src/backbones/clip/model.js';
import { openaiClipPreprocess } from '../src/backbones/preprocess.js';
import { clipTokenizerFromVocabMerges } from '../src/backbones/tokenizer.js';
import type { Backbone, TowerHooks } from '../src/backbones/types.js';
import { createRandom } from '../src/runtime/random.js';
import { accuracy, predict } from '../src/training/predict.js';
import type { TensorImageSource } from '../src/training/tensor-source.js';
import { trainModule } from '../src/training/train.js';
import { tinyClipCanonical, tinyClipConfig } from './fixtures/tiny-clip.js';
import { buildTinyClipVocab } from './fixtures/tiny-tokenizer.js';
import { tinyBackbone, tinyClassNames, tinyTask } from './fixtures/tiny-task.js';

const method = vptDeepMethod as unknown as TuningMethod<unknown>;
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

/** Wraps a backbone so that the rows reaching every vision q projection are recorded, one entry per layer. */
function recordVisionRows(backbone: Backbone, rows: number[]): Backbone {
  const wrap = (hooks: TowerHooks | undefined): TowerHooks => ({
    ...hooks,
    projectionDelta: (site, input) => {
      if (site.projection === 'q') rows.push(input.shape[0]);
      return hooks?.projectionDelta?.(site, input);
    },
  });
  return {
    identity: backbone.identity,
    dims: backbone.dims,
    preprocess: backbone.preprocess,
    tokenizer: backbone.tokenizer,
    logitScale: backbone.logitScale,
    tokenize: (texts) => backbone.tokenize(texts),
    embedTokens: (ids) => backbone.embedTokens(ids),
    encodeText: (batch, hooks) => backbone.encodeText(batch, hooks),
    encodeTextEmbeddings: (embeddings, eot, hooks) => backbone.encodeTextEmbeddings(embeddings, eot, hooks),
    encodeImage: (images, hooks) => backbone.encodeImage(images, wrap(hooks)),
    weights: () => backbone.weights(),
    dispose: () => undefined,
  };
}

function create(config: Partial<VptDeepConfig> = {}, seed = 0): TuningModule {
  return method.create({ backbone: source, classNames: tinyClassNames, config: resolveConfig(method, config), random: createRandom(seed), template });
}

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
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

describe('vpt-deep config', () => {
  it('is registered under its name', () => {
    expect(getMethod('vpt-deep')).toBe(vptDeepMethod);
  });

  it('defaults to 8 tokens at every layer', () => {
    expect(resolveConfig(method, {})).toEqual({ promptTokens: 8, promptDepth: 'all', init: 'xavier-uniform' });
  });

  it('rejects fractional prompt tokens', () => {
    expect(() => resolveConfig(method, { promptTokens: 2.5 })).toThrow(/promptTokens = 2\.5/);
  });

  it('rejects an unknown init', () => {
    expect(() => resolveConfig(method, { init: 'zeros' })).toThrow(/init = "zeros"/);
  });

  it('rejects a depth beyond the tower', () => {
    expect(() => create({ promptDepth: 3 })).toThrow(/promptDepth 3 exceeds the 2 vision layers/);
  });
});

describe('vpt-deep parameters', () => {
  it('has one prompt set per vision layer', () => {
    const module = create();
    expect([...module.parameters()].map(([name, v]) => [name, v.shape])).toEqual([
      ['vision.0.prompt', [8, 24]],
      ['vision.1.prompt', [8, 24]],
    ]);
    module.dispose();
  });

  it('draws within the VPT Xavier bound', () => {
    const module = create();
    const bound = Math.sqrt(6 / (3 * 8 * 8 + 24));
    const values = module.parameters().get('vision.1.prompt')!.dataSync();
    expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(bound);
    module.dispose();
  });

  it('records depth and needs', () => {
    const module = create();
    expect(module.attachment).toEqual({ depth: 'vision-layers', towers: ['vision'], layers: { text: [], vision: [0, 1] }, text: 'frozen-features', vision: 'backprop' });
    module.dispose();
  });
});

describe('vpt-deep logits', () => {
  it('keeps the vision sequence length across layers', () => {
    const features = new FeatureCache();
    const module = create();
    const rows: number[] = [];
    tf.dispose(module.logits({ backbone: recordVisionRows(source, rows), features, training: false }, { images: pixels }));
    // 8 images × (1 class token + 8 prompts + 4 patches) at both layers.
    expect(rows).toEqual([104, 104]);
    module.dispose();
    features.dispose();
  });

  it('uses the fresh set of a deeper layer', () => {
    const features = new FeatureCache();
    const module = create();
    const before = module.logits({ backbone: source, features, training: false }, { images: pixels });
    const deeper = module.parameters().get('vision.1.prompt')!;
    // A random change, because a constant shift of a token vanishes in the block's layer norm.
    tf.tidy(() => deeper.assign(tf.add(deeper, tf.randomNormal(deeper.shape, 0, 1, 'float32', 3))));
    const after = module.logits({ backbone: source, features, training: false }, { images: pixels });
    expect(maxDifference(before, after)).toBeGreaterThan(1e-4);
    tf.dispose([before, after]);
    module.dispose();
    features.dispose();
  });

  it('scores against the zero-shot classifier', () => {
    const features = new FeatureCache();
    const module = create();
    const logits = module.logits({ backbone: source, features, training: false }, { images: pixels });
    const prompts = module.parameters();
    const expected = tf.tidy(() => {
      const imageFeatures = source.encodeImage(pixels, {
        inputPrompt: () => ({ tokens: prompts.get('vision.0.prompt') as tf.Tensor2D, at: 1, mode: 'insert' }),
        layerPrompt: (layer) => (layer === 1 ? { tokens: prompts.get('vision.1.prompt') as tf.Tensor2D, at: 1, mode: 'replace' } : undefined),
      });
      return cosineLogits(imageFeatures, features.zeroShotClassifier(source, tinyClassNames, template), source.logitScale);
    });
    expect(maxDifference(logits, expected)).toBe(0);
    tf.dispose([logits, expected]);
    module.dispose();
    features.dispose();
  });

  it('frees its parameters on dispose', () => {
    const before = tf.memory().numTensors;
    create().dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects frozen features in place of images', () => {
    const features = new FeatureCache();
    const module = create();
    const frozen = tf.zeros([2, 16]) as tf.Tensor2D;
    expect(() => module.logits({ backbone: source, features, training: false }, { imageFeatures: frozen })).toThrow(/needs batch\.images/);
    frozen.dispose();
    module.dispose();
    features.dispose();
  });

  it('frees every intermediate tensor', () => {
    const features = new FeatureCache();
    const module = create();
    tf.dispose(module.logits({ backbone: source, features, training: false }, { images: pixels }));
    const before = tf.memory().numTensors;
    tf.dispose(module.logits({ backbone: source, features, training: true, random: createRandom(1) }, { images: pixels }));
    expect(tf.memory().numTensors).toBe(before);
    module.dispose();
    features.dispose();
  });
});

describe('vpt-deep transplant', () => {
  it('runs on a second backbone of the same widths', () => {
    const features = new FeatureCache();
    const module = create();
    const logits = module.logits({ backbone: target, features, training: false }, { images: pixels });
    expect(logits.shape).toEqual([8, 4]);
    expect(logits.dataSync().every(Number.isFinite)).toBe(true);
    logits.dispose();
    module.dispose();
    features.dispose();
  });

  it('names both widths on a wider backbone', () => {
    const features = new FeatureCache();
    const module = create();
    expect(() => module.logits({ backbone: wide, features, training: false }, { images: pixels })).toThrow(/vision width 24.*tiny-wide has vision width 36/);
    module.dispose();
    features.dispose();
  });
});

describe('vpt-deep training', () => {
  it('beats zero-shot, keeps the backbone and frees its tensors', async () => {
    const features = new FeatureCache();
    const zeroShot = await predict(undefined, source, features, data, { classNames: tinyClassNames, template });
    const weightsBefore = new Map([...source.weights()].map(([name, t]) => [name, t.dataSync().slice()]));
    const module = create();
    const before = tf.memory().numTensors;

    await trainModule(module, source, features, data, { method, seed: 1, epochs: 12, batchSize: 4, learningRate: 0.5, warmupEpochs: 0, augment: false });
    expect(tf.memory().numTensors).toBe(before);

    const trained = await predict(module, source, features, data);
    expect(accuracy(trained.predictions, data.labels)).toBeGreaterThan(accuracy(zeroShot.predictions, data.labels));
    for (const [name, t] of source.weights()) expect(t.dataSync(), name).toEqual(weightsBefore.get(name));
    module.dispose();
    features.dispose();
  });
});

describe('vpt-deep save and load', () => {
  it('restores identical logits and the source record', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'vlm-compat-vpt-deep-'));
    const features = new FeatureCache();
    const module = create({ promptTokens: 3, promptDepth: 1, init: 'normal' });
    try {
      await saveModule(module, folder);
      const { module: loaded, manifest } = await loadModule(folder);
      const expected = module.logits({ backbone: source, features, training: false }, { images: pixels });
      const actual = loaded.logits({ backbone: source, features, training: false }, { images: pixels });
      expect(maxDifference(expected, actual)).toBe(0);
      expect(manifest.source.identity).toEqual(source.identity);
      expect(manifest.source.dims).toEqual(source.dims);
      tf.dispose([expected, actual]);
      loaded.dispose();
    } finally {
      module.dispose();
      features.dispose();
      await rm(folder, { recursive: true, force: true });
    }
  });
});
