import { loadBackbone } from '../backbones/registry.js';
import type { Backbone } from '../backbones/types.js';
import { FeatureCache } from '../adapters/features.js';
import { loadUnlabeledImages, type Dataset, type ImageSplit } from '../data/index.js';
import type { ImageSource, TrainingProgress } from '../training/types.js';
import { openDatasetEntry } from './datasets.js';
import type { EvaluateConfig } from './config.js';
import { evaluateTransfer, type TransferDataset } from './evaluate.js';
import { planMatrix, runMatrix, type MatrixEvent, type RunHeader, type Shard } from './matrix.js';
import type { ResultsFile } from './results.js';

/** Default shots and seeds of a config that names none: 16-shot, one seed, as CoOp's main results. */
const defaultShots = [16];
const defaultSeeds = [1];

/** Returns `split` opened with a backbone's preprocessing, opening it once per backbone. */
function openPerBackbone(split: ImageSplit): (backbone: Backbone) => ImageSource {
  const opened = new Map<string, ImageSource>();
  return (backbone) => {
    const key = `${backbone.identity.weightsSha256}:${backbone.identity.name}`;
    let source = opened.get(key);
    if (source === undefined) {
      source = split.forBackbone(backbone.preprocess);
      opened.set(key, source);
    }
    return source;
  };
}

/** Adapts a loaded data set to evaluate-transfer: each split opened once per backbone with its preprocessing. */
export function transferDataset(dataset: Dataset): TransferDataset {
  return {
    name: dataset.name,
    classNames: dataset.classNames,
    template: dataset.template,
    train: openPerBackbone(dataset.train),
    test: openPerBackbone(dataset.test),
    val: openPerBackbone(dataset.val),
  };
}

/**
 * Hashes label arrays (FNV-1a over their values and lengths) into 8 hex digits, so that run.json notices a
 * split file edited in place that kept its class names and sizes.
 */
function labelFingerprint(splits: readonly Int32Array[]): string {
  let hash = 0x811c9dc5;
  const mix = (value: number): void => {
    hash = Math.imul(hash ^ (value & 0xffff), 0x01000193);
    hash = Math.imul(hash ^ (value >>> 16), 0x01000193);
  };
  for (const labels of splits) {
    mix(labels.length);
    for (const label of labels) mix(label);
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
}

/** Progress of a whole evaluation: a cell finished, or a training epoch step inside the current cell. */
export type EvaluationEvent =
  | {
      /** A cell finished or was skipped. */
      readonly type: 'cell';
      /** The cell and its outcome. */
      readonly event: MatrixEvent;
    }
  | {
      /** An optimizer step inside the current cell. */
      readonly type: 'training';
      /** The cell, as `dataset/method/K-shot/seed S`. */
      readonly cell: string;
      /** Training on the source or retraining on the target. */
      readonly phase: 'train-source' | 'retrain-target';
      /** The step's progress. */
      readonly progress: TrainingProgress;
    };

/** Options of {@link runEvaluation}. */
export interface RunEvaluationOptions {
  /** The part of the matrix this machine runs; all cells when absent. */
  readonly shard?: Shard;
  /** Called for every finished cell and every training step. */
  readonly onEvent?: (event: EvaluationEvent) => void;
}

/** Returns the forecast and migration settings of {@link evaluateTransfer} that a config requests. */
function unlabeledOptions(unlabeled: ((backbone: Backbone) => ImageSource) | undefined, config: EvaluateConfig) {
  if (unlabeled === undefined) return {};
  const migrate = config.migrate ?? [];
  return {
    unlabeled,
    forecast: config.forecast ?? false,
    ...(migrate.length === 0 ? {} : { migrate }),
    ...(config.migration === undefined ? {} : { migration: config.migration }),
  };
}

function referenceName(reference: EvaluateConfig['source']): string {
  return typeof reference === 'string' ? reference : reference.folder;
}

/**
 * Runs the evaluate-transfer matrix a config describes: loads both backbones and every data set, runs this
 * shard's cells (resuming finished ones) and writes `run.json`, `cells/` and `results.json` to the config's
 * output folder. Backbones are freed at the end.
 */
export async function runEvaluation(config: EvaluateConfig, options: RunEvaluationOptions = {}): Promise<ResultsFile> {
  const source = await loadBackbone(referenceName(config.source)).catch((error: Error) => {
    throw new Error(`could not load the source backbone "${referenceName(config.source)}": ${error.message}`);
  });
  const target = await loadBackbone(referenceName(config.target)).catch((error: Error) => {
    source.dispose();
    throw new Error(`could not load the target backbone "${referenceName(config.target)}": ${error.message}`);
  });
  const features = new FeatureCache();
  try {
    const datasets = new Map<string, TransferDataset>();
    for (const entry of config.datasets) datasets.set(entry.name, transferDataset(await openDatasetEntry(entry)));

    const migrate = config.migrate ?? [];
    const wantsUnlabeled = (config.forecast ?? false) !== false || migrate.length > 0;
    const folderConfig = wantsUnlabeled && typeof config.unlabeled === 'object' ? config.unlabeled : undefined;
    const unlabeledFolder =
      folderConfig === undefined
        ? undefined
        : await loadUnlabeledImages({ folder: folderConfig.folder, ...(folderConfig.extensions === undefined ? {} : { extensions: folderConfig.extensions }) });
    const openFolder = unlabeledFolder === undefined ? undefined : openPerBackbone(unlabeledFolder);
    // A cell's unlabeled images: the folder's, or else its data set's training pool.
    const unlabeledFor = (dataset: TransferDataset) => (wantsUnlabeled ? (openFolder ?? dataset.train) : undefined);

    const modules = new Map(config.modules.map((m) => [m.method, m]));
    const cells = planMatrix([...modules.keys()], [...datasets.keys()], config.shots ?? defaultShots, config.seeds ?? defaultSeeds);
    const header: RunHeader = {
      source: { identity: source.identity, dims: source.dims },
      target: { identity: target.identity, dims: target.dims },
      // Every setting that changes a cell's result, so that a rerun in the same folder never reuses cells of
      // another configuration. Each data set is recorded with its entry and what was loaded from it.
      settings: {
        modules: config.modules,
        shots: cells.map((c) => c.shots).filter((v, i, a) => a.indexOf(v) === i),
        seeds: config.seeds ?? defaultSeeds,
        retrain: config.retrain ?? true,
        prices: config.prices ?? {},
        tolerance: config.tolerance ?? null,
        compatibleTolerancePoints: config.compatibleTolerancePoints ?? null,
        bootstrap: config.bootstrap ?? 1000,
        datasets: config.datasets.map((entry) => {
          const loaded = datasets.get(entry.name) as TransferDataset;
          const [train, test] = [loaded.train(source), loaded.test(source)];
          return { entry, classNames: loaded.classNames, template: loaded.template, trainImages: train.size, testImages: test.size, labels: labelFingerprint([train.labels, test.labels]) };
        }),
        forecast: config.forecast ?? false,
        migrate,
        migration: config.migration ?? {},
        unlabeled: wantsUnlabeled ? (config.unlabeled ?? 'train-split') : null,
      },
    };
    return await runMatrix({
      cells,
      output: config.output,
      header,
      ...(options.shard === undefined ? {} : { shard: options.shard }),
      onCell: (event) => options.onEvent?.({ type: 'cell', event }),
      runCell: (key) => {
        const module = modules.get(key.method);
        const cellName = `${key.dataset}/${key.method}/${key.shots}-shot/seed ${key.seed}`;
        return evaluateTransfer({
          source,
          target,
          dataset: datasets.get(key.dataset) as TransferDataset,
          method: key.method,
          ...(module?.options === undefined ? {} : { config: module.options }),
          ...(module?.training === undefined ? {} : { training: module.training }),
          seed: key.seed,
          shots: key.shots,
          retrain: config.retrain ?? true,
          decision: {
            ...(config.prices === undefined ? {} : { prices: config.prices }),
            ...(config.tolerance === undefined ? {} : { tolerance: config.tolerance }),
            ...(config.compatibleTolerancePoints === undefined ? {} : { compatibleTolerancePoints: config.compatibleTolerancePoints }),
          },
          bootstrapSamples: config.bootstrap ?? 1000,
          features,
          ...unlabeledOptions(unlabeledFor(datasets.get(key.dataset) as TransferDataset), config),
          onProgress: ({ phase, progress }) => options.onEvent?.({ type: 'training', cell: cellName, phase, progress }),
        });
      },
    });
  } finally {
    features.dispose();
    source.dispose();
    target.dispose();
  }
}
