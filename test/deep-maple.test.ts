import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapleMethod, type MapleConfig } from '../src/adapters/deep/index.js';
import { FeatureCache } from '../src/adapters/features.js';
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

const method = mapleMethod as unknown as TuningMethod<unknown>;
const template = 'a photo of a {}.';
/** The tiny backbone has 2 layers per tower, so prompts go to the input and before layer 1. */
const tinyDepth = { promptDepth: 2 };
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

/** Hooks a module passed to each tower on the last call. */
interface CapturedHooks {
  text?: TowerHooks;
  vision?: TowerHooks;
  /** Rows reaching each text and vision q projection, one entry per layer. */
  textRows: number[];
  visionRows: number[];
}

/** Wraps a backbone so that the hooks a module passes and the rows reaching every q projection are recorded. */
function captureHooks(backbone: Backbone, captured: CapturedHooks): Backbone {
  const wrap = (hooks: TowerHooks | undefined, rows: number[]): TowerHooks => ({
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
    encodeText: (batch, hooks) => {
      captured.text = hooks;
      return backbone.encodeText(batch, wrap(hooks, captured.textRows));
    },
    encodeTextEmbeddings: (embeddings, eot, hooks) => backbone.encodeTextEmbeddings(embeddings, eot, hooks),
    encodeImage: (images, hooks) => {
      captured.vision = hooks;
      return backbone.encodeImage(images, wrap(hooks, captured.visionRows));
    },
    weights: () => backbone.weights(),
    dispose: () => undefined,
  };
}

function create(config: Partial<MapleConfig> = tinyDepth, seed = 0): TuningModule {
  return method.create({ backbone: source, classNames: tinyClassNames, config: resolveConfig(method, config), random: createRandom(seed), template });
}

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

/** Values of the vision prompts a module's hooks give at the input. */
function visionInputPrompt(hooks: TowerHooks | undefined): Float32Array {
  return tf.tidy(() => hooks?.inputPrompt?.()?.tokens.dataSync() as Float32Array);
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

describe('maple config', () => {
  it('is registered under its name', () => {
    expect(getMethod('maple')).toBe(mapleMethod);
  });

  it('defaults to the official settings', () => {
    expect(resolveConfig(method, {})).toEqual({ contextTokens: 2, promptDepth: 9, contextInit: 'a photo of a' });
  });

  it('rejects zero context tokens', () => {
    expect(() => resolveConfig(method, { contextTokens: 0 })).toThrow(/contextTokens = 0/);
  });

  it('rejects the default depth on a 2-layer backbone', () => {
    expect(() => create({})).toThrow(/promptDepth 9 exceeds the 2 text layers of tiny-1; set promptDepth to at most 2/);
  });

  it('rejects a context init shorter than the context', () => {
    expect(() => create({ ...tinyDepth, contextInit: 'cat' })).toThrow(/contextInit "cat" has 1 tokens, fewer than contextTokens 2/);
  });
});

describe('maple parameters', () => {
  it('has text prompts and couplings per depth', () => {
    const module = create();
    expect([...module.parameters()].map(([name, v]) => [name, v.shape])).toEqual([
      ['text.0.prompt', [2, 32]],
      ['text.1.prompt', [2, 32]],
      ['coupling.0.weight', [32, 24]],
      ['coupling.0.bias', [24]],
      ['coupling.1.weight', [32, 24]],
      ['coupling.1.bias', [24]],
    ]);
    module.dispose();
  });

  it('starts the input prompts from the context words', () => {
    const module = create();
    const expected = tf.tidy(() => {
      const batch = source.tokenize(['a photo']);
      const embeddings = source.embedTokens(tf.tensor2d(batch.ids, [1, batch.contextLength], 'int32'));
      return tf.reshape(tf.slice(embeddings, [0, 1, 0], [1, 2, -1]), [2, 32]);
    });
    expect(maxDifference(module.parameters().get('text.0.prompt')!, expected)).toBe(0);
    expected.dispose();
    module.dispose();
  });

  it('starts deeper prompts near zero', () => {
    const module = create();
    const values = module.parameters().get('text.1.prompt')!.dataSync();
    expect(Math.max(...values.map(Math.abs))).toBeLessThan(0.02 * 6);
    module.dispose();
  });

  it('records depth and needs', () => {
    const module = create();
    expect(module.attachment).toEqual({ depth: 'both-layers', towers: ['text', 'vision'], layers: { text: [0, 1], vision: [0, 1] }, text: 'backprop', vision: 'backprop' });
    module.dispose();
  });
});

describe('maple logits', () => {
  it('keeps both sequence lengths across layers', () => {
    const features = new FeatureCache();
    const module = create();
    const captured: CapturedHooks = { textRows: [], visionRows: [] };
    tf.dispose(module.logits({ backbone: captureHooks(source, captured), features, training: false }, { images: pixels }));
    // Text: 4 prompts cut after their EOT ("a photo of a apple." is SOT + 6 + EOT = 8 tokens), prompts replace tokens.
    expect(captured.textRows).toEqual([32, 32]);
    // Vision: 8 images × (1 class token + 2 prompts + 4 patches).
    expect(captured.visionRows).toEqual([56, 56]);
    module.dispose();
    features.dispose();
  });

  it('projects text prompts into vision prompts', () => {
    const features = new FeatureCache();
    const module = create();
    const captured: CapturedHooks = { textRows: [], visionRows: [] };
    tf.dispose(module.logits({ backbone: captureHooks(source, captured), features, training: false }, { images: pixels }));
    const parameters = module.parameters();
    const expected = tf.tidy(() => tf.add(tf.matMul(parameters.get('text.0.prompt')!, parameters.get('coupling.0.weight')!), parameters.get('coupling.0.bias')!));
    const actual = tf.tensor2d(visionInputPrompt(captured.vision), [2, 24]);
    expect(maxDifference(actual, expected)).toBeLessThan(1e-6);
    tf.dispose([expected, actual]);
    module.dispose();
    features.dispose();
  });

  it('changes vision prompts with the text prompts', () => {
    const features = new FeatureCache();
    const module = create();
    const captured: CapturedHooks = { textRows: [], visionRows: [] };
    const backbone = captureHooks(source, captured);
    tf.dispose(module.logits({ backbone, features, training: false }, { images: pixels }));
    const before = visionInputPrompt(captured.vision);
    const text = module.parameters().get('text.0.prompt')!;
    tf.tidy(() => text.assign(tf.add(text, tf.randomNormal(text.shape, 0, 0.5, 'float32', 4))));
    tf.dispose(module.logits({ backbone, features, training: false }, { images: pixels }));
    const after = visionInputPrompt(captured.vision);
    expect(Math.max(...after.map((value, i) => Math.abs(value - (before[i] as number))))).toBeGreaterThan(1e-3);
    module.dispose();
    features.dispose();
  });

  it('replaces text tokens before deeper layers', () => {
    const features = new FeatureCache();
    const module = create();
    const captured: CapturedHooks = { textRows: [], visionRows: [] };
    tf.dispose(module.logits({ backbone: captureHooks(source, captured), features, training: false }, { images: pixels }));
    expect(captured.text?.layerPrompt?.(1)).toMatchObject({ at: 1, mode: 'replace' });
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

  it('frees its parameters on dispose', () => {
    const before = tf.memory().numTensors;
    create().dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('maple transplant', () => {
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
    expect(() => module.logits({ backbone: wide, features, training: false }, { images: pixels })).toThrow(/text width 32.*tiny-wide has text width 48/);
    module.dispose();
    features.dispose();
  });
});

describe('maple training', () => {
  it('beats zero-shot, keeps the backbone and frees its tensors', async () => {
    const features = new FeatureCache();
    const zeroShot = await predict(undefined, source, features, data, { classNames: tinyClassNames, template });
    const weightsBefore = new Map([...source.weights()].map(([name, t]) => [name, t.dataSync().slice()]));
    const module = create();
    const before = tf.memory().numTensors;

    // One step per epoch on 8 images; AdamW because the deeper text prompts get gradients 10× larger than the rest.
    await trainModule(module, source, features, data, { method, seed: 1, epochs: 60, batchSize: 8, optimizer: 'adamw', learningRate: 0.01, weightDecay: 0, warmupEpochs: 0, augment: false });
    expect(tf.memory().numTensors).toBe(before);

    const trained = await predict(module, source, features, data);
    expect(accuracy(trained.predictions, data.labels)).toBeGreaterThan(accuracy(zeroShot.predictions, data.labels));
    for (const [name, t] of source.weights()) expect(t.dataSync(), name).toEqual(weightsBefore.get(name));
    module.dispose();
    features.dispose();
  });
});

describe('maple save and load', () => {
  it('restores identical logits and the source record', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'vlm-compat-maple-'));
    const features = new FeatureCache();
    const module = create();
    try {
      await saveModule(module, folder);
      const { module: loaded, manifest } = await loadModule(folder);
      const expected = module.logits({ backbone: source, features, training: false }, { images: pixels });
      const actual = loaded.logits({ backbone: source, features, training: false }, { images: pixels });
      expect(maxDifference(expected, actual)).toBe(0);
      expect(manifest.source.identity).toEqual(source.identity);
      expect(manifest.config).toEqual({ contextTokens: 2, promptDepth: 2, contextInit: 'a photo of a' });
      tf.dispose([expected, actual]);
      loaded.dispose();
    } finally {
      module.dispose();
      features.dispose();
      await rm(folder, { recursive: true, force: true });
    }
  });
});
