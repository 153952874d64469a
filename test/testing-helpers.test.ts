import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureCache } from '../src/adapters/features.js';
import { registerMethod, resolveConfig } from '../src/adapters/registry.js';
import type { TuningMethod, TuningModule } from '../src/adapters/types.js';
import type { ClipBackbone } from '../src/backbones/clip/model.js';
import { createRandom } from '../src/runtime/random.js';
import { assertPortable, PortabilityError } from '../src/testing/index.js';
import { portabilityMatchers } from '../src/testing/vitest.js';
import type { TensorImageSource } from '../src/training/tensor-source.js';
import { trainModule } from '../src/training/train.js';
import { featureScaleMethod } from '../examples/custom-module.js';
import { tinyBackbone, tinyClassNames, tinyTask } from './fixtures/tiny-task.js';

expect.extend(portabilityMatchers);

const method = featureScaleMethod as unknown as TuningMethod<unknown>;
let source: ClipBackbone;
let target: ClipBackbone;
let train: TensorImageSource;
let test: TensorImageSource;
let module: TuningModule;

beforeAll(async () => {
  registerMethod(featureScaleMethod);
  source = tinyBackbone(1);
  target = tinyBackbone(2);
  train = tinyTask(4, 3);
  test = tinyTask(4, 4);
  module = method.create({ backbone: source, classNames: tinyClassNames, config: resolveConfig(method, {}), random: createRandom(1), template: 'a photo of a {}.' });
  const features = new FeatureCache();
  await trainModule(module, source, features, train, { method, seed: 1, epochs: 20 });
  features.dispose();
});

afterAll(() => {
  [module, source, target, train, test].forEach((x) => x.dispose());
});

describe('assertPortable', () => {
  it('passes a module kept on its own backbone', async () => {
    const before = tf.memory().numTensors;
    const report = await assertPortable(module, source, { source, dataset: test, minRetention: 1, maxNfr: 0 });
    expect(report.retention).toBe(1);
    expect(report.nfr).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fails with values, thresholds and worst classes', async () => {
    const error = await assertPortable(module, target, { source, dataset: test, minRetention: 10, maxNfr: -1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PortabilityError);
    const message = (error as Error).message;
    expect(message).toMatch(/retention [\d.]+% is below the minimum 1000\.0%/);
    expect(message).toMatch(/NFR [\d.]+% is above the maximum -100\.0%/);
    expect(message).toMatch(/worst classes: (cat|dog|bird|apple) /);
  });
});

describe('toTransferTo matcher', () => {
  it('passes within thresholds', async () => {
    await expect(module).toTransferTo(source, { source, dataset: test, minRetention: 0.99 });
  });

  it('fails beyond thresholds', async () => {
    await expect(module).not.toTransferTo(target, { source, dataset: test, minRetention: 10 });
  });
});
