import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureCache } from '../src/adapters/features.js';
import { getMethod, resolveConfig } from '../src/adapters/registry.js';
import { loadModule } from '../src/adapters/save.js';
import type { TuningModule } from '../src/adapters/types.js';
import { ClipBackbone } from '../src/backbones/clip/model.js';
import { openaiClipPreprocess } from '../src/backbones/preprocess.js';
import { clipTokenizerFromVocabMerges } from '../src/backbones/tokenizer.js';
import { symmetricEigen } from '../src/forecast/linalg.js';
import { BridgedModule, MigrationError, migrateModule, saveMigratedModule, type MigrationResult } from '../src/migrate/index.js';
import { createRandom } from '../src/runtime/random.js';
import { accuracy, predict } from '../src/training/predict.js';
import type { TensorImageSource } from '../src/training/tensor-source.js';
import { trainModule } from '../src/training/train.js';
import type { ImageSource } from '../src/training/types.js';
import { tinyClipCanonical, tinyClipConfig } from './fixtures/tiny-clip.js';
import { tinyClassNames, tinyTask } from './fixtures/tiny-task.js';
import { buildTinyClipVocab } from './fixtures/tiny-tokenizer.js';

const template = 'a photo of a {}.';

/** Draws a random orthogonal matrix [d, d]: the eigenvectors of a random symmetric matrix. */
function randomOrthogonal(d: number, seed: number): tf.Tensor2D {
  const random = createRandom(seed);
  const a = Float64Array.from({ length: d * d }, () => random.normal());
  const symmetric = Float64Array.from({ length: d * d }, (_, k) => (a[k] as number) + (a[(k % d) * d + Math.floor(k / d)] as number));
  return tf.tensor2d(Float32Array.from(symmetricEigen(symmetric, d).vectors), [d, d]);
}

/** Builds the tiny CLIP of seed `seed`, with both output projections multiplied by `rotation` when given. */
function tinyClip(seed: number, name: string, rotation?: tf.Tensor2D): ClipBackbone {
  const config = tinyClipConfig('quick_gelu');
  const canonical = tinyClipCanonical(config, seed);
  if (rotation !== undefined) {
    for (const key of ['text.projection', 'vision.projection']) {
      const weight = canonical.get(key) as tf.Tensor2D;
      canonical.set(key, tf.matMul(weight, rotation));
      weight.dispose();
    }
  }
  const { vocab, merges } = buildTinyClipVocab();
  const identity = { family: 'clip', name, revision: 'test', weightsSha256: `${seed}${rotation === undefined ? 'a' : 'b'}`.padStart(64, '0') };
  return new ClipBackbone(identity, config, canonical, clipTokenizerFromVocabMerges(vocab, merges), openaiClipPreprocess(config.vision.imageSize));
}

/** Wraps an image source so that reading its labels throws, to prove that migration never reads them. */
function withoutLabels(source: ImageSource): ImageSource {
  return {
    size: source.size,
    get labels(): Int32Array {
      throw new Error('a label was read');
    },
    images: (indices, imageSize, augment) => source.images(indices, imageSize, augment),
  };
}

let source: ClipBackbone;
let rotated: ClipBackbone;
let train: TensorImageSource;
let test: TensorImageSource;
let unlabeled: TensorImageSource;
let features: FeatureCache;

beforeAll(() => {
  const rotation = randomOrthogonal(tinyClipConfig().embedDim, 11);
  source = tinyClip(1, 'tiny-source');
  rotated = tinyClip(1, 'tiny-rotated', rotation);
  rotation.dispose();
  train = tinyTask(6, 3);
  test = tinyTask(8, 4);
  unlabeled = tinyTask(10, 5);
  features = new FeatureCache();
});

afterAll(() => {
  features.dispose();
  [source, rotated, train, test, unlabeled].forEach((x) => x.dispose());
});

async function trained(methodName: string, config: unknown = {}): Promise<TuningModule> {
  const method = getMethod(methodName);
  const module = method.create({ backbone: source, classNames: tinyClassNames, config: resolveConfig(method, config), random: createRandom(1), template });
  await trainModule(module, source, features, train, { method, seed: 1, epochs: 30, batchSize: 8, learningRate: 0.05 });
  return module;
}

async function testAccuracy(module: TuningModule | undefined, backbone: ClipBackbone): Promise<{ accuracy: number; predictions: Int32Array }> {
  const result = await predict(module, backbone, features, test, { classNames: tinyClassNames, template });
  return { accuracy: accuracy(result.predictions, test.labels), predictions: result.predictions };
}

describe('bridge on a rotated backbone', () => {
  it('keeps zero-shot predictions unchanged', async () => {
    const before = await testAccuracy(undefined, source);
    const after = await testAccuracy(undefined, rotated);
    expect(Array.from(after.predictions)).toEqual(Array.from(before.predictions));
  });

  for (const [methodName, config] of [
    ['linear-probe', { normalizeFeatures: false, inverseRegularization: 10 }],
    ['clip-adapter', { residualRatio: 0.9 }],
  ] as const) {
    it(`recovers ${methodName} exactly`, async () => {
      const module = await trained(methodName, config);
      const onSource = await testAccuracy(module, source);
      const transplanted = await testAccuracy(module, rotated);
      const result = await migrateModule(module, source, rotated, withoutLabels(unlabeled), { method: 'bridge' });
      const bridged = await testAccuracy(result.module, rotated);
      result.module.dispose();
      module.dispose();

      expect(Array.from(transplanted.predictions)).not.toEqual(Array.from(onSource.predictions));
      expect(bridged.accuracy).toBe(onSource.accuracy);
      expect(Array.from(bridged.predictions)).toEqual(Array.from(onSource.predictions));
      expect(result.manifest.provenance.bridge?.procrustesResidual).toBeLessThan(1e-5);
    });
  }

  it('maps rotated features back within float32 rounding', async () => {
    const module = await trained('linear-probe', { inverseRegularization: 10 });
    const result = await migrateModule(module, source, rotated, unlabeled, { method: 'bridge' });
    const direct = await predict(module, source, features, test);
    const bridged = await predict(result.module, rotated, features, test);
    result.module.dispose();
    module.dispose();
    const largest = direct.logits.reduce((max, value, i) => Math.max(max, Math.abs(value - (bridged.logits[i] as number))), 0);
    expect(largest).toBeLessThan(1e-3);
  });
});

describe('migrateModule bridge', () => {
  it('records provenance without labels', async () => {
    const module = await trained('clip-adapter');
    const result = await migrateModule(module, source, rotated, withoutLabels(unlabeled), { method: 'bridge', maxImages: 24 });
    result.module.dispose();
    module.dispose();
    const provenance = result.manifest.provenance;
    expect(provenance.method).toBe('bridge');
    expect(provenance.labelsUsed).toBe(0);
    expect(provenance.unlabeledImages).toBe(24);
    expect(provenance.source.name).toBe('tiny-source');
    expect(provenance.target.name).toBe('tiny-rotated');
    expect(provenance.seconds).toBeGreaterThan(0);
    expect(result.manifest.method).toBe('bridged');
    expect(result.manifest.source.identity.name).toBe('tiny-rotated');
  });

  it('frees every tensor it creates', async () => {
    const module = await trained('tip-adapter');
    const before = tf.memory().numTensors;
    const result = await migrateModule(module, source, rotated, unlabeled, { method: 'bridge' });
    (await predict(result.module, rotated, features, test)).predictions;
    result.module.dispose();
    expect(tf.memory().numTensors).toBe(before);
    module.dispose();
  });

  it('leaves the source module usable', async () => {
    const module = await trained('taskres');
    const before = await testAccuracy(module, source);
    const result = await migrateModule(module, source, rotated, unlabeled, { method: 'bridge' });
    result.module.dispose();
    const after = await testAccuracy(module, source);
    module.dispose();
    expect(Array.from(after.predictions)).toEqual(Array.from(before.predictions));
  });

  it('rejects a prompt module', async () => {
    const method = getMethod('coop');
    const module = method.create({ backbone: source, classNames: tinyClassNames, config: resolveConfig(method, { contextTokens: 2 }), random: createRandom(1), template });
    const attempt = migrateModule(module, source, rotated, unlabeled, { method: 'bridge' });
    await expect(attempt).rejects.toBeInstanceOf(MigrationError);
    await expect(attempt).rejects.toThrow(/distill/);
    module.dispose();
  });

  it('rejects an unknown method', async () => {
    const module = await trained('clip-adapter');
    const attempt = migrateModule(module, source, rotated, unlabeled, { method: 'rotate' as 'bridge' });
    await expect(attempt).rejects.toThrow(/Unknown migration method "rotate"/);
    module.dispose();
  });

  it('rejects too few images', async () => {
    const module = await trained('clip-adapter');
    const singleImage = { size: 1, labels: new Int32Array(1), images: unlabeled.images.bind(unlabeled) };
    await expect(migrateModule(module, source, rotated, singleImage, { method: 'bridge' })).rejects.toThrow(/at least 2 unlabeled images/);
    module.dispose();
  });
});

describe('bridged module save and load', () => {
  let folder: string;
  let result: MigrationResult;
  let module: TuningModule;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'vlm-compat-bridged-'));
    module = await trained('tip-adapter-f');
    result = await migrateModule(module, source, rotated, unlabeled, { method: 'bridge' });
    await saveMigratedModule(result, folder);
  });

  afterAll(async () => {
    result.module.dispose();
    module.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  it('restores the same predictions', async () => {
    const { module: restored } = await loadModule(folder);
    const original = await predict(result.module, rotated, features, test);
    const reloaded = await predict(restored, rotated, features, test);
    restored.dispose();
    expect(Array.from(reloaded.logits)).toEqual(Array.from(original.logits));
  });

  it('restores a BridgedModule', async () => {
    const { module: restored } = await loadModule(folder);
    const isBridged = restored instanceof BridgedModule;
    restored.dispose();
    expect(isBridged).toBe(true);
  });

  it('keeps provenance in the manifest', async () => {
    const manifest = JSON.parse(await readFile(join(folder, 'manifest.json'), 'utf8'));
    expect(manifest.provenance.method).toBe('bridge');
    expect(manifest.provenance.labelsUsed).toBe(0);
  });

  it('loads without leaking', async () => {
    const before = tf.memory().numTensors;
    const { module: restored } = await loadModule(folder);
    restored.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('runs without the source backbone', async () => {
    const { module: restored } = await loadModule(folder);
    const fresh = new FeatureCache();
    const result = await predict(restored, rotated, fresh, test);
    fresh.dispose();
    restored.dispose();
    expect(result.predictions).toHaveLength(test.size);
  });
});
