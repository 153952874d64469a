import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { getMethod, registerMethod, resolveConfig } from '../src/adapters/registry.js';
import { moduleManifest } from '../src/adapters/save.js';
import { ClipBackbone } from '../src/backbones/clip/model.js';
import { openaiClipPreprocess } from '../src/backbones/preprocess.js';
import { clipTokenizerFromJson, clipTokenizerFromVocabMerges } from '../src/backbones/tokenizer.js';
import { evaluateTransfer, fixedDataset, type TransferTask } from '../src/pipeline/evaluate.js';
import { jsonDifferences } from '../src/pipeline/differences.js';
import { mergeShards, parseShard, planMatrix, runMatrix, type RunHeader } from '../src/pipeline/matrix.js';
import { checkCompatibility } from '../src/pipeline/preflight.js';
import type { CellKey, CellResult } from '../src/pipeline/results.js';
import { createRandom } from '../src/runtime/random.js';
import { createLogger, getLogger, setLogger } from '../src/runtime/logger.js';
import type { TensorImageSource } from '../src/training/tensor-source.js';
import { featureScaleMethod } from '../examples/custom-module.js';
import { tinyBackbone, tinyClassNames, tinyTask } from './fixtures/tiny-task.js';
import { buildTinyClipVocab } from './fixtures/tiny-tokenizer.js';
import { tinyClipCanonical, tinyClipConfig } from './fixtures/tiny-clip.js';

let source: ClipBackbone;
let target: ClipBackbone;
let train: TensorImageSource;
let test: TensorImageSource;

beforeAll(() => {
  registerMethod(featureScaleMethod);
  source = tinyBackbone(1, 'tiny-source');
  target = tinyBackbone(2, 'tiny-target');
  train = tinyTask(6, 3);
  test = tinyTask(5, 4);
});

afterAll(() => {
  [source, target, train, test].forEach((x) => x.dispose());
});

function task(overrides: Partial<TransferTask> = {}): TransferTask {
  return {
    source,
    target,
    dataset: fixedDataset('tiny', tinyClassNames, 'a photo of a {}.', train, test),
    method: 'feature-scale',
    training: { epochs: 5 },
    seed: 1,
    shots: 4,
    bootstrapSamples: 50,
    ...overrides,
  };
}

describe('evaluateTransfer', () => {
  it('measures every condition and frees its tensors', async () => {
    const before = tf.memory().numTensors;
    const result = await evaluateTransfer(task())();
    expect(tf.memory().numTensors).toBe(before);
    expect(result._tag).toBe('Right');
    const cell = (result as { right: CellResult }).right;
    expect(Object.keys(cell.conditions).sort()).toEqual(['source-module', 'target-retrained', 'target-transplanted', 'target-zero-shot']);
    expect(cell.labels).toHaveLength(test.size);
    expect(cell.metrics.map((m) => m.name)).toContain('retention');
    expect(cell.cost.train.examplesSeen).toBe(5 * 4 * tinyClassNames.length);
    expect(['reuse', 'retrain', 'zero-shot']).toContain(cell.decision?.action);
  });

  it('computes retention from its own conditions', async () => {
    const result = await evaluateTransfer(task({ retrain: false }))();
    const cell = (result as { right: CellResult }).right;
    const retention = cell.metrics.find((m) => m.name === 'retention')!.value;
    const expected = cell.conditions['target-transplanted']!.accuracy / cell.conditions['source-module']!.accuracy;
    expect(retention).toBeCloseTo(expected, 12);
    expect(cell.conditions['target-retrained']).toBeUndefined();
  });

  it('stops an incompatible module before target compute', async () => {
    const config = { ...tinyClipConfig(), embedDim: 8 };
    const { vocab, merges } = buildTinyClipVocab();
    const narrow = new ClipBackbone({ family: 'clip', name: 'narrow', revision: 'x', weightsSha256: 'f'.repeat(64) }, config, tinyClipCanonical(config, 5), clipTokenizerFromVocabMerges(vocab, merges), openaiClipPreprocess(16));
    const result = await evaluateTransfer(task({ target: narrow }))();
    expect(result._tag).toBe('Left');
    const error = (result as unknown as { left: { _tag: string; mismatches: Array<{ field: string }> } }).left;
    expect(error._tag).toBe('IncompatibleModule');
    expect(error.mismatches.map((m) => m.field)).toEqual(['embedDim']);
    narrow.dispose();
  });

  it('reports an unknown method with a suggestion', async () => {
    const result = await evaluateTransfer(task({ method: 'feature-scal' }))();
    expect(result._tag).toBe('Left');
    expect((result as { left: { _tag: string; message: string } }).left.message).toMatch(/Did you mean "feature-scale"/);
  });
});

describe('checkCompatibility', () => {
  it('accepts one tokenizer stored in two layouts', () => {
    const { tokenizerJson } = buildTinyClipVocab();
    const config = tinyClipConfig();
    const identity = { family: 'clip', name: 'tiny-json', revision: 'x', weightsSha256: 'e'.repeat(64) };
    const other = new ClipBackbone(identity, config, tinyClipCanonical(config, 2), clipTokenizerFromJson(tokenizerJson), openaiClipPreprocess(16));
    expect(other.tokenizer.source.sha256).not.toBe(source.tokenizer.source.sha256);
    // The tiny context of 16 tokens leaves room for 4 CoOp context tokens.
    const configs: Record<string, object> = { coop: { contextTokens: 4 }, 'clip-adapter': {}, 'clip-lora': {} };
    for (const [name, options] of Object.entries(configs)) {
      const method = getMethod(name);
      const module = method.create({ backbone: source, classNames: tinyClassNames, config: resolveConfig(method, options), random: createRandom(1), template: 'a photo of a {}.' });
      expect(checkCompatibility(moduleManifest(module), other), name).toEqual([]);
      module.dispose();
    }
    other.dispose();
  });

  it('lists class name mismatches', () => {
    const module = featureScaleMethod.create({ backbone: source, classNames: tinyClassNames, config: { initialScale: 1 }, random: createRandom(1), template: '{}' });
    const mismatches = checkCompatibility(moduleManifest(module), target, ['cat', 'dog']);
    expect(mismatches.map((m) => m.field)).toEqual(['classNames']);
    module.dispose();
  });
});

describe('jsonDifferences', () => {
  it('names a nested array entry', () => {
    expect(jsonDifferences({ modules: [{ epochs: 2 }] }, { modules: [{ epochs: 3 }] })).toEqual(['modules[0].epochs: 2 → 3']);
  });

  it('names an added field', () => {
    expect(jsonDifferences({ a: 1 }, { a: 1, b: 'x' })).toEqual(['b: (absent) → "x"']);
  });

  it('reports arrays of new length whole', () => {
    expect(jsonDifferences({ seeds: [1] }, { seeds: [1, 2] })).toEqual(['seeds: [1] → [1,2]']);
  });

  it('stops at the limit', () => {
    expect(jsonDifferences({ a: 1, b: 1, c: 1 }, { a: 2, b: 2, c: 2 }, 2)).toHaveLength(2);
  });

  it('finds equal values equal', () => {
    expect(jsonDifferences({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toEqual([]);
  });
});

describe('matrix runner', () => {
  const header: RunHeader = { source: { identity: { family: 'clip', name: 's', revision: 'r', weightsSha256: '1' }, dims: {} as never }, target: { identity: { family: 'clip', name: 't', revision: 'r', weightsSha256: '2' }, dims: {} as never }, settings: { epochs: 5 } };
  const cells = planMatrix(['feature-scale'], ['tiny'], [2, 4], [1, 2]);
  const runCell = (calls: CellKey[]) => (key: CellKey) => {
    calls.push(key);
    return evaluateTransfer(task({ seed: key.seed, shots: key.shots, retrain: false }));
  };
  let folders: string[] = [];

  afterAll(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });

  async function folder(): Promise<string> {
    const path = await mkdtemp(join(tmpdir(), 'vlm-compat-matrix-'));
    folders.push(path);
    return path;
  }

  it('writes each cell and resumes without redoing finished cells', async () => {
    const output = await folder();
    const calls: CellKey[] = [];
    // An interrupted run: only the first two cells finish.
    await runMatrix({ cells: cells.slice(0, 2), output, header, runCell: runCell(calls) });
    expect(await readdir(join(output, 'cells'))).toHaveLength(2);
    const results = await runMatrix({ cells, output, header, runCell: runCell(calls) });
    expect(calls).toHaveLength(4);
    expect(results.cells).toHaveLength(4);
  });

  it('merges shards into the unsharded result', async () => {
    const whole = await folder();
    const full = await runMatrix({ cells, output: whole, header, runCell: runCell([]) });
    const shards = [await folder(), await folder()];
    for (const [i, output] of shards.entries()) await runMatrix({ cells, output, header, shard: parseShard(`${i + 1}/2`), runCell: runCell([]) });
    const merged = await mergeShards(shards, await folder());
    // Prediction times differ between runs; everything else must match.
    const untimed = (c: CellResult) => Object.fromEntries(Object.entries(c.conditions).map(([name, { accuracy, predictions }]) => [name, { accuracy, predictions }]));
    const comparable = (c: CellResult) => ({ key: c.key, conditions: untimed(c), metrics: c.metrics });
    expect(merged.cells.map(comparable).sort((a, b) => JSON.stringify(a.key).localeCompare(JSON.stringify(b.key)))).toEqual(
      full.cells.map(comparable).sort((a, b) => JSON.stringify(a.key).localeCompare(JSON.stringify(b.key))),
    );
    const onDisk = JSON.parse(await readFile(join(folders[folders.length - 1]!, 'results.json'), 'utf8'));
    expect(onDisk.cells).toHaveLength(4);
  });

  it('rejects an invalid shard', () => {
    expect(() => parseShard('3/2')).toThrow(/1 ≤ i ≤ n/);
    expect(() => parseShard('0/2')).toThrow(/Invalid shard "0\/2"/);
  });

  it('rejects merging shards of different runs', async () => {
    const a = await folder();
    const b = await folder();
    await runMatrix({ cells: cells.slice(0, 1), output: a, header, runCell: runCell([]) });
    await runMatrix({ cells: cells.slice(1, 2), output: b, header: { ...header, settings: { epochs: 6 } }, runCell: runCell([]) });
    await expect(mergeShards([a, b], await folder())).rejects.toThrow(/other backbones or settings than .* \(settings\.epochs: 5 → 6\)/);
  });

  it('names the changed setting on resume', async () => {
    const output = await folder();
    await runMatrix({ cells: cells.slice(0, 1), output, header, runCell: runCell([]) });
    const changed = runMatrix({ cells: cells.slice(0, 1), output, header: { ...header, settings: { epochs: 7 } }, runCell: runCell([]) });
    await expect(changed).rejects.toThrow(/run\.json belongs to a run with other backbones or settings \(settings\.epochs: 5 → 7\)/);
  });

  it('warns about a truncated cell file and reruns it', async () => {
    const output = await folder();
    await runMatrix({ cells: cells.slice(0, 1), output, header, runCell: runCell([]) });
    const [name] = await readdir(join(output, 'cells'));
    const file = join(output, 'cells', name as string);
    await writeFile(file, (await readFile(file, 'utf8')).slice(0, 40));
    const warnings: string[] = [];
    const previous = getLogger();
    setLogger(createLogger('warn', (line) => warnings.push(line)));
    const calls: CellKey[] = [];
    try {
      await runMatrix({ cells: cells.slice(0, 1), output, header, runCell: runCell(calls) });
    } finally {
      setLogger(previous);
    }
    expect(calls).toHaveLength(1);
    expect(warnings.some((line) => line.includes(`${file} is not a complete cell record`))).toBe(true);
  });

  it('records a failed cell and runs it again on resume', async () => {
    const output = await folder();
    let fail = true;
    const flaky = (key: CellKey) => (fail ? TE.left({ _tag: 'EvaluationFailed' as const, step: 'test', message: 'disk full' }) : runCell([])(key));
    const first = await runMatrix({ cells: cells.slice(0, 1), output, header, runCell: flaky });
    expect(first.cells[0]!.status).toBe('failed');
    expect(first.cells[0]!.error).toMatch(/disk full/);
    fail = false;
    const second = await runMatrix({ cells: cells.slice(0, 1), output, header, runCell: flaky });
    expect(second.cells[0]!.status).toBe('ok');
  });
});
