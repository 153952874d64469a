import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClipBackbone } from '../src/backbones/clip/model.js';
import { openaiClipPreprocess } from '../src/backbones/preprocess.js';
import { clipTokenizerFromVocabMerges } from '../src/backbones/tokenizer.js';
import { symmetricEigen } from '../src/forecast/linalg.js';
import { createRandom } from '../src/runtime/random.js';
import { fitForecastCoefficients, forecastImageBudget, forecastRowsFromResults } from '../src/forecast/index.js';
import { evaluateTransfer, fixedDataset, type TransferTask } from '../src/pipeline/evaluate.js';
import type { CellResult, ResultsFile } from '../src/pipeline/results.js';
import { validateResults } from '../src/report/schema.js';
import type { TensorImageSource } from '../src/training/tensor-source.js';
import type { ImageSource } from '../src/training/types.js';
import { tinyClipCanonical, tinyClipConfig } from './fixtures/tiny-clip.js';
import { tinyBackbone, tinyClassNames, tinyTask } from './fixtures/tiny-task.js';
import { buildTinyClipVocab } from './fixtures/tiny-tokenizer.js';

/** Builds the tiny CLIP of seed 1 with both output projections multiplied by a random orthogonal matrix. */
function rotatedTinyClip(): ClipBackbone {
  const config = tinyClipConfig('quick_gelu');
  const d = config.embedDim;
  const random = createRandom(21);
  const a = Float64Array.from({ length: d * d }, () => random.normal());
  const symmetric = Float64Array.from({ length: d * d }, (_, k) => (a[k] as number) + (a[(k % d) * d + Math.floor(k / d)] as number));
  const rotation = tf.tensor2d(Float32Array.from(symmetricEigen(symmetric, d).vectors), [d, d]);
  const canonical = tinyClipCanonical(config, 1);
  for (const key of ['text.projection', 'vision.projection']) {
    const weight = canonical.get(key) as tf.Tensor2D;
    canonical.set(key, tf.matMul(weight, rotation));
    weight.dispose();
  }
  rotation.dispose();
  const { vocab, merges } = buildTinyClipVocab();
  const identity = { family: 'clip', name: 'tiny-rotated', revision: 'test', weightsSha256: 'c'.repeat(64) };
  return new ClipBackbone(identity, config, canonical, clipTokenizerFromVocabMerges(vocab, merges), openaiClipPreprocess(config.vision.imageSize));
}

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
let target: ClipBackbone;
let train: TensorImageSource;
let test: TensorImageSource;
let unlabeled: TensorImageSource;

beforeAll(() => {
  source = tinyBackbone(1, 'tiny-source');
  target = tinyBackbone(2, 'tiny-target');
  train = tinyTask(6, 3);
  test = tinyTask(5, 4);
  unlabeled = tinyTask(6, 5);
});

afterAll(() => {
  [source, target, train, test, unlabeled].forEach((x) => x.dispose());
});

function task(overrides: Partial<TransferTask> = {}): TransferTask {
  return {
    source,
    target,
    dataset: fixedDataset('tiny', tinyClassNames, 'a photo of a {}.', train, test),
    method: 'clip-adapter',
    training: { epochs: 5, batchSize: 8 },
    seed: 1,
    shots: 4,
    bootstrapSamples: 0,
    retrain: false,
    unlabeled: () => withoutLabels(unlabeled),
    ...overrides,
  };
}

async function cellOf(overrides: Partial<TransferTask> = {}): Promise<CellResult> {
  const result = await evaluateTransfer(task(overrides))();
  if (result._tag === 'Left') throw new Error(`evaluateTransfer failed: ${result.left.message}`);
  return result.right;
}

describe('evaluateTransfer with unlabeled images', () => {
  it('records a forecast', async () => {
    const cell = await cellOf();
    expect(cell.forecast?.evidence.images).toBe(forecastImageBudget(test.size));
    expect(cell.forecast?.evidence.featureSet).toBe('image');
  });

  it('takes the image cap from the task', async () => {
    const cell = await cellOf({ forecast: { maxImages: 20 } });
    expect(cell.forecast?.evidence.images).toBe(20);
  });

  it('skips the forecast when turned off', async () => {
    const cell = await cellOf({ forecast: false });
    expect(cell.forecast).toBeUndefined();
  });

  it('adds migrated conditions', async () => {
    const cell = await cellOf({ migrate: ['bridge', 'distill'], migration: { training: { epochs: 3 } } });
    expect(Object.keys(cell.conditions).sort()).toEqual(['source-module', 'target-bridged', 'target-distilled', 'target-transplanted', 'target-zero-shot']);
    expect(cell.metrics.map((m) => m.name)).toContain('target-bridged-accuracy');
  });

  it('records migration cost without labels', async () => {
    const cell = await cellOf({ migrate: ['distill'], migration: { training: { epochs: 2 } } });
    const record = cell.migrations?.[0];
    expect(record?.condition).toBe('target-distilled');
    expect(record?.status).toBe('ok');
    expect(record?.unlabeledImages).toBe(unlabeled.size);
    expect(record?.labelsUsed).toBe(0);
    expect(record?.seconds).toBeGreaterThan(0);
  });

  it('weighs the migration in the decision', async () => {
    const cell = await cellOf({ migrate: ['bridge'] });
    expect(cell.decision?.arithmetic.some((line) => line.startsWith('migrate: target-bridged, by bridge'))).toBe(true);
    expect(cell.decision?.arithmetic.some((line) => line.startsWith('migrate cost ='))).toBe(true);
  });

  it('chooses migrate when only it meets the tolerance', async () => {
    // On a rotated target the bridge restores the probe's source accuracy exactly, while the transplant breaks.
    const rotated = rotatedTinyClip();
    const probe = { target: rotated, method: 'linear-probe', config: { inverseRegularization: 10, normalizeFeatures: false }, migrate: ['bridge'] as const };
    const first = await cellOf(probe);
    const floor = (first.conditions['source-module']?.accuracy as number) * 100;
    const cell = await cellOf({ ...probe, decision: { tolerance: { kind: 'min-accuracy', points: floor } } });
    rotated.dispose();
    expect(first.conditions['target-bridged']?.accuracy).toBe(first.conditions['source-module']?.accuracy);
    expect(first.conditions['target-transplanted']?.accuracy).toBeLessThan(first.conditions['source-module']?.accuracy as number);
    expect(cell.decision?.action).toBe('migrate');
    expect(cell.decision?.reason).toMatch(/needs no labels/);
  });

  it('marks the bridge not applicable to a prompt', async () => {
    const cell = await cellOf({ method: 'coop', config: { contextTokens: 2 }, training: { epochs: 1, batchSize: 8 }, migrate: ['bridge'] });
    expect(cell.migrations?.[0]?.status).toBe('not-applicable');
    expect(cell.conditions['target-bridged']).toBeUndefined();
  });

  it('frees every tensor', async () => {
    const before = tf.memory().numTensors;
    await cellOf({ migrate: ['bridge', 'distill'], migration: { training: { epochs: 1 } } });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects migrate without unlabeled images', async () => {
    const result = await evaluateTransfer(task({ unlabeled: undefined, migrate: ['bridge'] }))();
    expect(result._tag).toBe('Left');
    expect(result._tag === 'Left' ? result.left._tag : undefined).toBe('InvalidConfig');
  });

  it('rejects an unknown migration method', async () => {
    const result = await evaluateTransfer(task({ migrate: ['teleport' as 'bridge'] }))();
    expect(result._tag).toBe('Left');
    expect(result._tag === 'Left' ? result.left.message : '').toMatch(/Unknown migration method "teleport"/);
  });
});

describe('forecast evidence in results.json', () => {
  let results: ResultsFile;

  beforeAll(async () => {
    const cells = [await cellOf(), await cellOf({ method: 'linear-probe', config: { inverseRegularization: 1 } }), await cellOf({ seed: 2 })];
    results = {
      schema: 'vlm-compat-results',
      schemaVersion: 1,
      libraryVersion: 'test',
      createdAt: new Date(0).toISOString(),
      source: { identity: source.identity, dims: source.dims },
      target: { identity: target.identity, dims: target.dims },
      settings: {},
      cells,
    };
  });

  it('passes the report validator', () => {
    const decoded = validateResults(JSON.parse(JSON.stringify(results)));
    expect((decoded.cells[0] as CellResult).forecast?.evidence.featureSet).toBe('image');
  });

  it('feeds the coefficient fit', () => {
    const { rows } = forecastRowsFromResults(JSON.parse(JSON.stringify(results)), 'results.json');
    const coefficients = fitForecastCoefficients(rows, { note: 'test' });
    expect(rows).toHaveLength(3);
    expect(coefficients.fittedOn.backbonePairs).toEqual(['tiny-source → tiny-target']);
  });
});
