import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FeatureCache, cosineLogits } from '../src/adapters/features.js';
import { coop, kgcoop } from '../src/adapters/prompt/coop.js';
import { getMethod, resolveConfig } from '../src/adapters/registry.js';
import { loadModule, moduleManifest, saveModule } from '../src/adapters/save.js';
import type { ModuleContext, TuningMethod, TuningModule } from '../src/adapters/types.js';
import { ClipBackbone } from '../src/backbones/clip/model.js';
import { openaiClipPreprocess } from '../src/backbones/preprocess.js';
import { clipTokenizerFromVocabMerges } from '../src/backbones/tokenizer.js';
import type { Backbone } from '../src/backbones/types.js';
import { createRandom } from '../src/runtime/random.js';
import { accuracy, predict } from '../src/training/predict.js';
import type { TensorImageSource } from '../src/training/tensor-source.js';
import { trainModule } from '../src/training/train.js';
import { tinyClipCanonical, tinyClipConfig } from './fixtures/tiny-clip.js';
import { tinyBackbone, tinyClassNames, tinyTask } from './fixtures/tiny-task.js';
import { buildTinyClipVocab } from './fixtures/tiny-tokenizer.js';

const template = 'a photo of a {}.';
// The tiny backbone's logit scale is about 14, not CLIP's 100, and CoOp's SGD at 0.002 barely moves the
// context in a few epochs; AdamW at a larger rate keeps these tests short.
const quickTraining = { epochs: 20, batchSize: 8, optimizer: 'adamw', learningRate: 0.05, weightDecay: 0, warmupEpochs: 0, augment: false } as const;

let backbone: ClipBackbone;
let data: TensorImageSource;
let features: FeatureCache;
let tensorsBefore: number;

beforeAll(() => {
  backbone = tinyBackbone(1);
  data = tinyTask(4);
});

afterAll(() => {
  backbone.dispose();
  data.dispose();
});

beforeEach(() => {
  tensorsBefore = tf.memory().numTensors;
  features = new FeatureCache();
});

afterEach(() => {
  features.dispose();
  expect(tf.memory().numTensors).toBe(tensorsBefore);
});

function create(config: unknown = { contextTokens: 4 }, seed = 1, method: TuningMethod<never> = coop as unknown as TuningMethod<never>): TuningModule {
  return method.create({ backbone, classNames: tinyClassNames, config: resolveConfig(method, config), random: createRandom(seed), template });
}

function context(training = false, on: Backbone = backbone): ModuleContext {
  return { backbone: on, features, training, ...(training ? { random: createRandom(0) } : {}) };
}

async function imageFeatures(on: Backbone = backbone): Promise<tf.Tensor2D> {
  const pixels = await data.images([0, 1, 5, 9, 14], 16);
  const encoded = on.encodeImage(pixels);
  pixels.dispose();
  return encoded;
}

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

/** The same backbone without the shared-prefix encoder, so modules take the plain path. */
function withoutSharedPrefix(on: ClipBackbone): Backbone {
  const plain = Object.create(on) as ClipBackbone & { encodeTextWithSharedPrefix: undefined };
  Object.defineProperty(plain, 'encodeTextWithSharedPrefix', { value: undefined });
  return plain;
}

function weightSnapshot(): Map<string, Float32Array> {
  return new Map([...backbone.weights()].map(([name, tensor]) => [name, Float32Array.from(tensor.dataSync() as Float32Array)]));
}

describe('coop module', () => {
  it('learns a unified context', () => {
    const module = create();
    const shapes = [...module.parameters()].map(([name, v]) => `${name} [${v.shape}]`);
    expect(shapes).toEqual(['context [4,32]']);
    expect(module.attachment.depth).toBe('text-input');
    module.dispose();
  });

  it('learns a context per class', () => {
    const module = create({ contextTokens: 3, classSpecific: true });
    expect(module.parameters().get('context')?.shape).toEqual([4, 3, 32]);
    module.dispose();
  });

  it('equals zero-shot when initialized from the template words', async () => {
    const module = create({ init: 'a photo of a' });
    const batch = await imageFeatures();
    const logits = module.logits(context(), { imageFeatures: batch });
    const zeroShot = cosineLogits(batch, features.zeroShotClassifier(backbone, tinyClassNames, template), backbone.logitScale);
    expect(maxDifference(logits, zeroShot)).toBeLessThan(1e-4);
    tf.dispose([batch, logits, zeroShot]);
    module.dispose();
  });

  it('gives the same logits without the shared prefix', async () => {
    const module = create();
    const batch = await imageFeatures();
    const fast = module.logits(context(true), { imageFeatures: batch });
    const plain = module.logits(context(true, withoutSharedPrefix(backbone)), { imageFeatures: batch });
    expect(maxDifference(fast, plain)).toBeLessThan(1e-4);
    tf.dispose([batch, fast, plain]);
    module.dispose();
  });

  it('gives the same gradient without the shared prefix', async () => {
    const module = create();
    const batch = await imageFeatures();
    const variable = module.parameters().get('context') as tf.Variable;
    const gradientOn = (on: Backbone) => tf.variableGrads(() => tf.sum(tf.square(module.logits(context(true, on), { imageFeatures: batch }))) as tf.Scalar, [variable]);
    const fast = gradientOn(backbone);
    const plain = gradientOn(withoutSharedPrefix(backbone));
    const [fastGradient, plainGradient] = [fast.grads[variable.name] as tf.Tensor, plain.grads[variable.name] as tf.Tensor];
    const scale = tf.tidy(() => tf.max(tf.abs(plainGradient)).dataSync()[0] as number);
    expect(maxDifference(fastGradient, plainGradient) / scale).toBeLessThan(1e-5);
    tf.dispose([batch, fast.value, plain.value, fastGradient, plainGradient]);
    module.dispose();
  });

  it('gives the same class-specific logits without the shared prefix', async () => {
    const module = create({ contextTokens: 3, classSpecific: true }, 6);
    const batch = await imageFeatures();
    const fast = module.logits(context(true), { imageFeatures: batch });
    const plain = module.logits(context(true, withoutSharedPrefix(backbone)), { imageFeatures: batch });
    expect(maxDifference(fast, plain)).toBeLessThan(1e-4);
    tf.dispose([batch, fast, plain]);
    module.dispose();
  });

  it('starts every class context from the same words', async () => {
    const unified = create({ init: 'a photo of a' });
    const perClass = create({ init: 'a photo of a', classSpecific: true });
    const batch = await imageFeatures();
    const [a, b] = [unified.logits(context(), { imageFeatures: batch }), perClass.logits(context(), { imageFeatures: batch })];
    expect(maxDifference(a, b)).toBeLessThan(1e-4);
    tf.dispose([batch, a, b]);
    unified.dispose();
    perClass.dispose();
  });

  it('encodes the prompts once for repeated inference', async () => {
    const module = create();
    const batch = await imageFeatures();
    const calls: number[] = [];
    const counting = Object.create(backbone) as ClipBackbone;
    Object.defineProperty(counting, 'encodeTextWithSharedPrefix', {
      value: (...args: Parameters<ClipBackbone['encodeTextWithSharedPrefix']>) => {
        calls.push(1);
        return backbone.encodeTextWithSharedPrefix(...args);
      },
    });
    const first = module.logits(context(false, counting), { imageFeatures: batch });
    const second = module.logits(context(false, counting), { imageFeatures: batch });
    expect(calls.length).toBe(1);
    expect(maxDifference(first, second)).toBe(0);
    features.dispose(counting);
    tf.dispose([batch, first, second]);
    module.dispose();
  });

  it('encodes again after the context changes', async () => {
    const module = create();
    const batch = await imageFeatures();
    const before = module.logits(context(), { imageFeatures: batch });
    tf.tidy(() => module.parameters().forEach((v) => v.assign(tf.mul(v, 3))));
    const after = module.logits(context(), { imageFeatures: batch });
    expect(maxDifference(before, after)).toBeGreaterThan(1e-3);
    tf.dispose([batch, before, after]);
    module.dispose();
  });

  it('runs on a transplant target', async () => {
    const target = tinyBackbone(2);
    const module = create();
    const batch = await imageFeatures(target);
    const logits = module.logits(context(false, target), { imageFeatures: batch });
    expect(logits.shape).toEqual([5, 4]);
    features.dispose(target);
    tf.dispose([batch, logits]);
    module.dispose();
    target.dispose();
  });

  it('rejects a target of another text width', async () => {
    const config = tinyClipConfig();
    const wider = { ...config, text: { ...config.text, width: 48, heads: 3, mlpWidth: 96 } };
    const { vocab, merges } = buildTinyClipVocab();
    const identity = { family: 'clip', name: 'tiny-wide', revision: 'test', weightsSha256: 'f'.repeat(64) };
    const target = new ClipBackbone(identity, wider, tinyClipCanonical(wider, 3), clipTokenizerFromVocabMerges(vocab, merges), openaiClipPreprocess(16));
    const module = create();
    const batch = await imageFeatures(target);
    expect(() => module.logits(context(false, target), { imageFeatures: batch })).toThrow(/context tokens \[4,32\] have width 32, but backbone tiny-wide has text width 48/);
    tf.dispose(batch);
    module.dispose();
    target.dispose();
  });

  it('rejects a batch without images', () => {
    const module = create();
    expect(() => module.logits(context(), {})).toThrow(/coop: the batch has neither imageFeatures nor images/);
    module.dispose();
  });

  it('rejects a context longer than the context length', () => {
    expect(() => create({ contextTokens: 16 })).toThrow(/16 context tokens leave no room for a class name.*context length of 16; use at most 13/);
  });
});

describe('kgcoop term', () => {
  it('is off in plain coop', async () => {
    const module = create();
    const batch = await imageFeatures();
    const term = tf.tidy(() => {
      module.logits(context(true), { imageFeatures: batch });
      return module.auxiliaryLoss?.(context(true), { imageFeatures: batch }, tf.zeros([5, 4]));
    });
    expect(term).toBeUndefined();
    batch.dispose();
    module.dispose();
  });

  it('is zero at the zero-shot prompt', async () => {
    const module = create({}, 1, kgcoop as unknown as TuningMethod<never>);
    const batch = await imageFeatures();
    const value = tf.tidy(() => {
      const logits = module.logits(context(true), { imageFeatures: batch });
      return (module.auxiliaryLoss?.(context(true), { imageFeatures: batch }, logits) as tf.Scalar).dataSync()[0] as number;
    });
    expect(Math.abs(value)).toBeLessThan(1e-5);
    batch.dispose();
    module.dispose();
  });

  it('weights one minus the mean cosine', async () => {
    const module = create({ contextTokens: 4, kgWeight: 2 });
    const batch = await imageFeatures();
    const [term, expected] = tf.tidy(() => {
      const logits = module.logits(context(true), { imageFeatures: batch });
      const auxiliary = module.auxiliaryLoss?.(context(true), { imageFeatures: batch }, logits) as tf.Scalar;
      // The same term computed from the features of a fresh inference call.
      const text = (module as unknown as { textFeatures(b: Backbone): tf.Tensor2D }).textFeatures(backbone);
      const zeroShot = features.zeroShotClassifier(backbone, tinyClassNames, template);
      const cosine = tf.sum(tf.mul(tf.div(text, tf.norm(text, 2, 1, true)), zeroShot), 1);
      return [auxiliary.dataSync()[0] as number, tf.mul(tf.sub(1, tf.mean(cosine)), 2).dataSync()[0] as number];
    });
    expect(term).toBeGreaterThan(1e-3);
    expect(Math.abs(term - expected)).toBeLessThan(1e-5);
    batch.dispose();
    module.dispose();
  });
});

describe('coop training', () => {
  it('beats zero-shot on the training set', async () => {
    const zeroShot = await predict(undefined, backbone, features, data, { classNames: tinyClassNames, template });
    const module = create();
    await trainModule(module, backbone, features, data, { method: coop as unknown as TuningMethod<unknown>, seed: 1, ...quickTraining });
    const trained = await predict(module, backbone, features, data);
    expect(accuracy(trained.predictions, data.labels)).toBeGreaterThan(accuracy(zeroShot.predictions, data.labels));
    module.dispose();
  });

  it('trains kgcoop above zero-shot', async () => {
    const zeroShot = await predict(undefined, backbone, features, data, { classNames: tinyClassNames, template });
    const module = create({}, 1, kgcoop as unknown as TuningMethod<never>);
    await trainModule(module, backbone, features, data, { method: kgcoop as unknown as TuningMethod<unknown>, seed: 1, ...quickTraining });
    const trained = await predict(module, backbone, features, data);
    expect(accuracy(trained.predictions, data.labels)).toBeGreaterThan(accuracy(zeroShot.predictions, data.labels));
    module.dispose();
  });

  it('leaves backbone weights bit-identical', async () => {
    const before = weightSnapshot();
    const module = create({ contextTokens: 4, kgWeight: 1 });
    await trainModule(module, backbone, features, data, { method: coop as unknown as TuningMethod<unknown>, seed: 2, epochs: 2, batchSize: 4, learningRate: 0.5 });
    const changed = [...weightSnapshot()].filter(([name, values]) => !(before.get(name) as Float32Array).every((v, i) => Object.is(v, values[i])));
    expect(changed.map(([name]) => name)).toEqual([]);
    module.dispose();
  });
});

describe('coop save and load', () => {
  it('reloads with identical logits', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'vlm-compat-coop-'));
    const module = create({ contextTokens: 3, classSpecific: true }, 4);
    const manifest = await saveModule(module, folder);
    const { module: loaded } = await loadModule(folder);
    const batch = await imageFeatures();
    const [a, b] = [module.logits(context(), { imageFeatures: batch }), loaded.logits(context(), { imageFeatures: batch })];
    expect(maxDifference(a, b)).toBe(0);
    expect(manifest.source.identity).toEqual(backbone.identity);
    expect(manifest.source.tokenizer.sha256).toBe(backbone.tokenizer.source.sha256);
    expect(loaded.method).toBe('coop');
    tf.dispose([a, b, batch]);
    module.dispose();
    loaded.dispose();
    await rm(folder, { recursive: true });
  });

  it('restores kgcoop under its own name', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'vlm-compat-kgcoop-'));
    const module = create({}, 5, kgcoop as unknown as TuningMethod<never>);
    await saveModule(module, folder);
    const { module: loaded } = await loadModule(folder);
    expect(loaded.method).toBe('kgcoop');
    expect(loaded.config).toEqual({ contextTokens: 4, init: 'a photo of a', classSpecific: false, kgWeight: 8 });
    module.dispose();
    loaded.dispose();
    await rm(folder, { recursive: true });
  });
});

describe('coop restore', () => {
  it('names an invalid saved config', () => {
    const module = create();
    const manifest = { ...moduleManifest(module), config: { contextTokens: -1 } };
    const tensors = new Map<string, tf.Tensor>([['context', tf.zeros([4, 32])]]);
    expect(() => coop.restore(manifest, tensors)).toThrow(/coop: the saved manifest has an invalid config \(contextTokens = -1\)/);
    expect(tensors.size).toBe(0);
    module.dispose();
  });

  it('names a missing tensor', () => {
    const module = create();
    const tensors = new Map<string, tf.Tensor>([['prompt', tf.zeros([4, 32])]]);
    expect(() => coop.restore(moduleManifest(module), tensors)).toThrow(/coop: the saved module has no "context" tensor/);
    module.dispose();
  });

  it('names a tensor of the wrong width', () => {
    const module = create();
    const tensors = new Map<string, tf.Tensor>([['context', tf.zeros([4, 8])]]);
    expect(() => coop.restore(moduleManifest(module), tensors)).toThrow(/saved tensor "context" has shape \[4,8\], expected \[-1,32\]/);
    module.dispose();
  });
});

describe('coop config', () => {
  it('is registered', () => {
    expect(getMethod('coop').name).toBe('coop');
  });

  it('names an invalid context length', () => {
    expect(() => resolveConfig(coop, { contextTokens: 0 })).toThrow(/contextTokens = 0, expected a positive integer/);
  });

  it('names an invalid kg weight', () => {
    expect(() => resolveConfig(coop, { kgWeight: -1 })).toThrow(/kgWeight = -1, expected a number >= 0/);
  });

  it('rejects init words without tokens', () => {
    expect(() => create({ init: '   ' })).toThrow(/init words "   " have no tokens/);
  });
});
