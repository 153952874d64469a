import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureCache } from '../src/adapters/features.js';
import { getMethod, resolveConfig } from '../src/adapters/registry.js';
import type { TuningModule } from '../src/adapters/types.js';
import type { ClipBackbone } from '../src/backbones/clip/model.js';
import { distillationLoss, MigrationError, migrateModule } from '../src/migrate/index.js';
import { createRandom } from '../src/runtime/random.js';
import { predict } from '../src/training/predict.js';
import type { TensorImageSource } from '../src/training/tensor-source.js';
import { trainModule } from '../src/training/train.js';
import type { ImageSource } from '../src/training/types.js';
import { tinyBackbone, tinyClassNames, tinyTask } from './fixtures/tiny-task.js';

const template = 'a photo of a {}.';

/** Wraps an image source so that reading its labels throws, to prove that distillation never reads them. */
function withoutLabels(source: ImageSource): ImageSource {
  return {
    size: source.size,
    get labels(): Int32Array {
      throw new Error('a label was read');
    },
    images: (indices, imageSize, augment) => source.images(indices, imageSize, augment),
  };
}

/** Share of rows on which two logit matrices [rows, classes] pick the same class. */
function agreement(a: Int32Array, b: Int32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

let source: ClipBackbone;
let target: ClipBackbone;
let train: TensorImageSource;
let unlabeled: TensorImageSource;
let features: FeatureCache;

beforeAll(() => {
  source = tinyBackbone(1, 'tiny-source');
  target = tinyBackbone(2, 'tiny-target');
  train = tinyTask(6, 3);
  unlabeled = tinyTask(8, 5);
  features = new FeatureCache();
});

afterAll(() => {
  features.dispose();
  [source, target, train, unlabeled].forEach((x) => x.dispose());
});

async function trained(methodName: string, config: unknown = {}, epochs = 10): Promise<TuningModule> {
  const method = getMethod(methodName);
  const module = method.create({ backbone: source, classNames: tinyClassNames, config: resolveConfig(method, config), random: createRandom(1), template });
  await trainModule(module, source, features, train, { method, seed: 1, epochs, batchSize: 8, learningRate: 0.05 });
  return module;
}

describe('distillationLoss', () => {
  it('is zero for equal logits', () => {
    const logits = tf.tensor2d([
      [1, 2, 3],
      [0, -1, 4],
    ]);
    const loss = distillationLoss(logits, logits, 2);
    const value = loss.dataSync()[0] as number;
    tf.dispose([logits, loss]);
    expect(value).toBeCloseTo(0, 6);
  });

  it('matches T² KL by hand', () => {
    const teacher = tf.tensor2d([[2, 0]]);
    const student = tf.tensor2d([[0, 0]]);
    const loss = distillationLoss(teacher, student, 2);
    const value = loss.dataSync()[0] as number;
    tf.dispose([teacher, student, loss]);
    const p = [Math.exp(1) / (Math.exp(1) + 1), 1 / (Math.exp(1) + 1)];
    const expected = 4 * ((p[0] as number) * Math.log((p[0] as number) / 0.5) + (p[1] as number) * Math.log((p[1] as number) / 0.5));
    expect(value).toBeCloseTo(expected, 5);
  });
});

describe('migrateModule distill', () => {
  for (const [methodName, config, training] of [
    ['clip-adapter', {}, { epochs: 20, learningRate: 0.05, batchSize: 8 }],
    ['coop', { contextTokens: 2 }, { epochs: 4, learningRate: 0.05, batchSize: 8 }],
    ['tip-adapter', {}, {}],
    ['tip-adapter-f', {}, { epochs: 3, batchSize: 8 }],
    ['linear-probe', { inverseRegularization: 1 }, {}],
    ['vpt-deep', { promptTokens: 2 }, { epochs: 1, batchSize: 16 }],
    ['clip-lora', { rank: 1 }, { epochs: 1, batchSize: 16 }],
    ['maple', { promptDepth: 2 }, { epochs: 1, batchSize: 16 }],
  ] as const) {
    it(`distills ${methodName} without labels`, async () => {
      const module = await trained(methodName, config, 2);
      const before = tf.memory().numTensors;
      const cache = new FeatureCache();
      const result = await migrateModule(module, source, target, withoutLabels(unlabeled), { method: 'distill', training, features: cache });
      const predictions = await predict(result.module, target, cache, unlabeled);
      result.module.dispose();
      cache.dispose();
      const after = tf.memory().numTensors;
      module.dispose();
      expect(after).toBe(before);
      expect(result.manifest.method).toBe(methodName);
      expect(result.manifest.provenance.labelsUsed).toBe(0);
      expect(predictions.predictions).toHaveLength(unlabeled.size);
    });
  }

  it('moves the student towards the teacher', async () => {
    const module = await trained('clip-adapter', { residualRatio: 0.6 }, 30);
    const teacher = await predict(module, source, features, unlabeled);
    const transplanted = await predict(module, target, features, unlabeled);
    const result = await migrateModule(module, source, target, unlabeled, { method: 'distill', training: { epochs: 150, learningRate: 0.1, batchSize: 32 } });
    const student = await predict(result.module, target, features, unlabeled);
    result.module.dispose();
    module.dispose();
    expect(agreement(student.predictions, teacher.predictions)).toBeGreaterThan(agreement(transplanted.predictions, teacher.predictions));
  });

  it('records distillation details', async () => {
    const module = await trained('clip-adapter');
    const result = await migrateModule(module, source, target, unlabeled, { method: 'distill', temperature: 3, training: { epochs: 2, batchSize: 16 } });
    result.module.dispose();
    module.dispose();
    const distill = result.manifest.provenance.distill;
    expect(distill?.temperature).toBe(3);
    expect(distill?.epochs).toBe(2);
    expect(distill?.steps).toBe(4);
    expect(distill?.examplesSeen).toBe(2 * unlabeled.size);
    expect(distill?.pseudoLabelFit).toBe(false);
    expect(result.manifest.provenance.unlabeledImages).toBe(unlabeled.size);
  });

  it('fits tip-adapter on pseudo-labels', async () => {
    const module = await trained('tip-adapter');
    const result = await migrateModule(module, source, target, unlabeled, { method: 'distill' });
    const keys = result.module.buffers().get('cache.keys')?.shape;
    result.module.dispose();
    module.dispose();
    expect(result.manifest.provenance.distill?.pseudoLabelFit).toBe(true);
    expect(keys).toEqual([unlabeled.size, target.dims.embedDim]);
  });

  it('uses a seeded image sample', async () => {
    const module = await trained('tip-adapter');
    const result = await migrateModule(module, source, target, unlabeled, { method: 'distill', maxImages: 10 });
    const keys = result.module.buffers().get('cache.keys')?.shape;
    result.module.dispose();
    module.dispose();
    expect(keys).toEqual([10, target.dims.embedDim]);
  });

  it('rejects a zero temperature', async () => {
    const module = await trained('clip-adapter');
    const attempt = migrateModule(module, source, target, unlabeled, { method: 'distill', temperature: 0 });
    await expect(attempt).rejects.toBeInstanceOf(MigrationError);
    await expect(attempt).rejects.toThrow(/temperature = 0/);
    module.dispose();
  });

  it('rejects a fractional epoch count', async () => {
    const module = await trained('clip-adapter');
    await expect(migrateModule(module, source, target, unlabeled, { method: 'distill', training: { epochs: 1.5 } })).rejects.toThrow(/training.epochs = 1.5/);
    module.dispose();
  });
});
