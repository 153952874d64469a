import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FeatureCache } from '../src/adapters/features.js';
import { contcoop } from '../src/adapters/prompt/contcoop.js';
import { coop } from '../src/adapters/prompt/coop.js';
import { resolveConfig } from '../src/adapters/registry.js';
import { loadModule, saveModule } from '../src/adapters/save.js';
import type { ModuleContext, TuningMethod, TuningModule } from '../src/adapters/types.js';
import type { ClipBackbone } from '../src/backbones/clip/model.js';
import type { Backbone } from '../src/backbones/types.js';
import { createRandom } from '../src/runtime/random.js';
import { accuracy, predict } from '../src/training/predict.js';
import type { TensorImageSource } from '../src/training/tensor-source.js';
import { trainModule } from '../src/training/train.js';
import { tinyBackbone, tinyClassNames, tinyTask } from './fixtures/tiny-task.js';

const template = 'a photo of a {}.';
const method = contcoop as unknown as TuningMethod<unknown>;

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

type ContcoopInternals = TuningModule & { classContext(b: Backbone): tf.Tensor3D };

function create(config: unknown = {}, seed = 1): ContcoopInternals {
  return contcoop.create({ backbone, classNames: tinyClassNames, config: resolveConfig(contcoop, config), random: createRandom(seed), template }) as ContcoopInternals;
}

function context(training = false): ModuleContext {
  return { backbone, features, training };
}

async function imageFeatures(): Promise<tf.Tensor2D> {
  const pixels = await data.images([0, 1, 5, 9, 14], 16);
  const encoded = backbone.encodeImage(pixels);
  pixels.dispose();
  return encoded;
}

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

/** Gives the output projection random values, so that the class-conditioning layer changes the context. */
function randomizeOutput(module: TuningModule, seed: number): void {
  const output = module.parameters().get('attention.output.weight') as tf.Variable;
  tf.tidy(() => output.assign(tf.randomNormal(output.shape, 0, 0.5, 'float32', seed)));
}

function weightSnapshot(): Map<string, Float32Array> {
  return new Map([...backbone.weights()].map(([name, tensor]) => [name, Float32Array.from(tensor.dataSync() as Float32Array)]));
}

describe('contcoop module', () => {
  it('has query, key, value and output projections', () => {
    const module = create({ heads: 2, attentionWidth: 8 });
    const shapes = [...module.parameters()].map(([name, v]) => `${name} [${v.shape}]`);
    expect(shapes).toEqual([
      'context [4,32]',
      'attention.query.weight [32,8]',
      'attention.key.weight [32,8]',
      'attention.value.weight [32,8]',
      'attention.output.weight [8,32]',
      'attention.output.bias [32]',
    ]);
    module.dispose();
  });

  it('starts with the same context for every class', () => {
    const module = create();
    const contexts = module.classContext(backbone);
    const shared = module.parameters().get('context') as tf.Variable;
    const expected = tf.tidy(() => tf.tile(tf.expandDims(shared, 0), [tinyClassNames.length, 1, 1]));
    expect(maxDifference(contexts, expected)).toBe(0);
    tf.dispose([contexts, expected]);
    module.dispose();
  });

  it('equals coop at creation', async () => {
    const module = create({}, 2);
    const plain = coop.create({ backbone, classNames: tinyClassNames, config: resolveConfig(coop, { contextTokens: 4 }), random: createRandom(3), template });
    tf.tidy(() => plain.parameters().get('context')?.assign(module.parameters().get('context') as tf.Variable));
    const batch = await imageFeatures();
    const [a, b] = [module.logits(context(), { imageFeatures: batch }), plain.logits(context(), { imageFeatures: batch })];
    expect(maxDifference(a, b)).toBeLessThan(1e-4);
    tf.dispose([batch, a, b]);
    module.dispose();
    plain.dispose();
  });

  it('conditions the context on the class name', () => {
    const module = create({ heads: 2 });
    randomizeOutput(module, 5);
    const contexts = module.classContext(backbone);
    const [cat, dog] = tf.tidy(() => tf.unstack(contexts).slice(0, 2));
    expect(maxDifference(cat as tf.Tensor, dog as tf.Tensor)).toBeGreaterThan(1e-3);
    tf.dispose([contexts, cat as tf.Tensor, dog as tf.Tensor]);
    module.dispose();
  });

  it('ignores the padding after short class names', () => {
    const createFor = (classNames: string[]) =>
      contcoop.create({ backbone, classNames, config: resolveConfig(contcoop, {}), random: createRandom(1), template }) as ContcoopInternals;
    // "cat" is one token and "a red bird" three, so next to it "cat" has two padding positions.
    const module = createFor(['cat', 'a red bird']);
    randomizeOutput(module, 6);
    const alone = createFor(['cat']);
    tf.tidy(() => {
      for (const [name, variable] of module.parameters()) alone.parameters().get(name)?.assign(variable);
    });
    const [together, single] = [module.classContext(backbone), alone.classContext(backbone)];
    const catTogether = tf.tidy(() => tf.slice(together, [0, 0, 0], [1, -1, -1]));
    expect(maxDifference(catTogether, single)).toBeLessThan(1e-6);
    tf.dispose([together, single, catTogether]);
    module.dispose();
    alone.dispose();
  });

  it('has no distillation loss at the zero-shot prompt', async () => {
    const module = create();
    const batch = await imageFeatures();
    const value = tf.tidy(() => {
      const logits = module.logits(context(true), { imageFeatures: batch });
      return (module.auxiliaryLoss?.(context(true), { imageFeatures: batch }, logits) as tf.Scalar).dataSync()[0] as number;
    });
    expect(Math.abs(value)).toBeLessThan(1e-5);
    batch.dispose();
    module.dispose();
  });

  it('has a distillation loss away from it', async () => {
    const module = create();
    randomizeOutput(module, 7);
    const batch = await imageFeatures();
    const value = tf.tidy(() => {
      const logits = module.logits(context(true), { imageFeatures: batch });
      return (module.auxiliaryLoss?.(context(true), { imageFeatures: batch }, logits) as tf.Scalar).dataSync()[0] as number;
    });
    expect(value).toBeGreaterThan(1e-3);
    batch.dispose();
    module.dispose();
  });
});

describe('contcoop training', () => {
  it('beats zero-shot on the training set', async () => {
    const zeroShot = await predict(undefined, backbone, features, data, { classNames: tinyClassNames, template });
    const module = create();
    await trainModule(module, backbone, features, data, {
      method,
      seed: 1,
      epochs: 20,
      batchSize: 8,
      optimizer: 'adamw',
      learningRate: 0.05,
      weightDecay: 0,
      warmupEpochs: 0,
      augment: false,
    });
    const trained = await predict(module, backbone, features, data);
    expect(accuracy(trained.predictions, data.labels)).toBeGreaterThan(accuracy(zeroShot.predictions, data.labels));
    module.dispose();
  });

  it('leaves backbone weights bit-identical', async () => {
    const before = weightSnapshot();
    const module = create();
    await trainModule(module, backbone, features, data, { method, seed: 2, epochs: 2, batchSize: 8, learningRate: 0.5, warmupEpochs: 0 });
    const changed = [...weightSnapshot()].filter(([name, values]) => !(before.get(name) as Float32Array).every((v, i) => Object.is(v, values[i])));
    expect(changed.map(([name]) => name)).toEqual([]);
    module.dispose();
  });

  it('trains the zero-initialized output projection', async () => {
    const module = create();
    await trainModule(module, backbone, features, data, { method, seed: 3, epochs: 1, batchSize: 8, learningRate: 0.5, warmupEpochs: 0 });
    const output = module.parameters().get('attention.output.weight') as tf.Variable;
    expect((output.dataSync() as Float32Array).some((v) => v !== 0)).toBe(true);
    module.dispose();
  });
});

describe('contcoop save and load', () => {
  it('reloads with identical logits', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'vlm-compat-contcoop-'));
    const module = create({ heads: 2 }, 4);
    randomizeOutput(module, 8);
    const manifest = await saveModule(module, folder);
    const { module: loaded } = await loadModule(folder);
    const batch = await imageFeatures();
    const [a, b] = [module.logits(context(), { imageFeatures: batch }), loaded.logits(context(), { imageFeatures: batch })];
    expect(maxDifference(a, b)).toBe(0);
    expect(manifest.source.identity).toEqual(backbone.identity);
    tf.dispose([a, b, batch]);
    module.dispose();
    loaded.dispose();
    await rm(folder, { recursive: true });
  });
});

describe('contcoop config', () => {
  it('names an invalid head count', () => {
    expect(() => resolveConfig(contcoop, { heads: 0 })).toThrow(/heads = 0, expected a positive integer/);
  });

  it('names an invalid distillation weight', () => {
    expect(() => resolveConfig(contcoop, { distillationWeight: 'high' })).toThrow(/distillationWeight = "high", expected a number >= 0/);
  });

  it('rejects heads that do not divide the width', () => {
    expect(() => create({ heads: 3 })).toThrow(/3 attention heads do not divide the attention width 32/);
  });
});
