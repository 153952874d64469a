import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { FeatureCache } from '../adapters/features.js';
import { getMethod, resolveConfig } from '../adapters/registry.js';
import { moduleManifest } from '../adapters/save.js';
import type { TrainingDefaults, TuningMethod, TuningModule } from '../adapters/types.js';
import type { Backbone } from '../backbones/types.js';
import { createRandom } from '../runtime/random.js';
import { accuracy, predict } from '../training/predict.js';
import { sampleFewShot } from '../training/sampler.js';
import { SubsetImageSource } from '../training/subset-source.js';
import { trainModule } from '../training/train.js';
import { TrainingDivergedError, type ImageSource, type TrainOptions, type TrainReport, type TrainingProgress } from '../training/types.js';
import type { PredictionSets } from '../metrics/types.js';
import { forecastCompatibility, forecastImageBudget } from '../forecast/forecast.js';
import type { ForecastOptions } from '../forecast/types.js';
import { checkMigrationMethods, measureMigrations, type MeasuredMigration, type MigrateOptions, type MigrationMethod } from '../migrate/index.js';
import { fromException, type PipelineError } from './errors.js';
import { checkCompatibility } from './preflight.js';
import type { CellKey, CellResult, ConditionResult } from './results.js';
import { summarizeCell, type DecisionSettings } from './summarize.js';

/**
 * A labelled data set for one cell: the few-shot training pool and the test set, each opened for a given
 * backbone (backbones can preprocess images differently), with class names and template.
 */
export interface TransferDataset {
  /** Name shown in results and reports. */
  readonly name: string;
  /** Class names, indexed by label. */
  readonly classNames: readonly string[];
  /** Prompt template of the zero-shot baseline and of modules that start from it. */
  readonly template: string;
  /** Opens the training pool, from which the K-shot split is drawn, preprocessed for `backbone`. */
  train(backbone: Backbone): ImageSource;
  /** Opens the test split, preprocessed for `backbone`. */
  test(backbone: Backbone): ImageSource;
  /** Opens the validation split, from which a few examples per class go to methods that choose hyperparameters on them. */
  val?(backbone: Backbone): ImageSource;
}

/** Wraps splits that are the same for every backbone, such as in-memory tensors, as a transfer data set. */
export function fixedDataset(name: string, classNames: readonly string[], template: string, train: ImageSource, test: ImageSource): TransferDataset {
  return { name, classNames, template, train: () => train, test: () => test };
}

/** One evaluate-transfer run: a method on a data set, trained on the source and moved to the target. */
export interface TransferTask {
  /** Backbone the module is trained on. */
  readonly source: Backbone;
  /** Backbone the module is transplanted onto. */
  readonly target: Backbone;
  /** Data set of the cell. */
  readonly dataset: TransferDataset;
  /** Registry name of the tuning method, such as `coop`. */
  readonly method: string;
  /** The method's config; fields left out take the method's defaults. */
  readonly config?: unknown;
  /** Training overrides (epochs, learning rate, ...). */
  readonly training?: Omit<TrainOptions, 'seed'>;
  /** Seed of the K-shot draw, module initialization and training. */
  readonly seed: number;
  /** Training examples per class (K). */
  readonly shots: number;
  /** Also train the module afresh on the target, the retrain reference. Default true. */
  readonly retrain?: boolean;
  /** Prices and tolerance for the retrain-or-reuse decision; without them every price is 0 and every option admissible. */
  readonly decision?: DecisionSettings;
  /** Bootstrap resamples for metric intervals; 0 turns them off. Default 1000. */
  readonly bootstrapSamples?: number;
  /** Called after every optimizer step of training on the source and of retraining on the target. */
  readonly onProgress?: (event: {
    /** The training run of the step: on the source, or the retrain reference on the target. */
    readonly phase: 'train-source' | 'retrain-target';
    /** The step's progress. */
    readonly progress: TrainingProgress;
  }) => void;
  /** Shared feature cache; a private one is created and freed when absent. */
  readonly features?: FeatureCache;
  /**
   * Unlabeled images, opened for a backbone, for the forecast and for label-free migration. Their labels
   * are never read. Images of the test split make the migration transductive, which a report should state.
   */
  readonly unlabeled?: (backbone: Backbone) => ImageSource;
  /**
   * Forecast retention from `unlabeled` before the transplanted evaluation and record it in the cell, with
   * an image cap and coefficients when an object is given. Default true when `unlabeled` is set, with an
   * image cap of 5% of the test split (16 to 128 images), so the forecast costs about 5% of the evaluation.
   */
  readonly forecast?: boolean | Pick<ForecastOptions, 'maxImages' | 'maxClasses' | 'coefficients'>;
  /** Label-free migrations to measure as the extra conditions `target-bridged` and `target-distilled`; needs `unlabeled`. */
  readonly migrate?: readonly MigrationMethod[];
  /**
   * Settings of those migrations: image cap, distillation temperature and training overrides. Distillation
   * trains with the cell's `training` overrides unless `migration.training` replaces them.
   */
  readonly migration?: Omit<MigrateOptions, 'method' | 'features' | 'seed'>;
}

/** Validation examples per class drawn for a cell: as CoOp's protocol, min(shots, 4). */
const maxValidationShots = 4;

/** Opens the few-shot validation examples for `backbone`, or undefined when the data set has no validation split. */
function validationSplit(task: TransferTask, backbone: Backbone): ImageSource | undefined {
  const val = task.dataset.val?.(backbone);
  if (val === undefined || val.size === 0) return undefined;
  const shots = Math.min(task.shots, maxValidationShots);
  const indices = sampleFewShot(val.labels, task.dataset.classNames.length, shots, createRandom(task.seed).fork('validation-shots')).indices;
  return new SubsetImageSource(val, indices, `${task.dataset.name}/val/${shots}-shot/seed-${task.seed}`);
}

/** Opens the K-shot training examples for `backbone`, with the same indices for source and target. */
function fewShotSplit(task: TransferTask, backbone: Backbone, indices: readonly number[]): ImageSource {
  return new SubsetImageSource(task.dataset.train(backbone), indices, `${task.dataset.name}/train/${task.shots}-shot/seed-${task.seed}`);
}

function condition(predictions: Int32Array, labels: Int32Array, seconds?: number): ConditionResult {
  return { accuracy: accuracy(predictions, labels), predictions: Array.from(predictions), ...(seconds === undefined ? {} : { seconds }) };
}

interface Trained {
  readonly module: TuningModule;
  readonly report: TrainReport;
}

function train(method: TuningMethod<unknown>, config: unknown, backbone: Backbone, task: TransferTask, data: ImageSource, features: FeatureCache, phase: 'train-source' | 'retrain-target') {
  return TE.tryCatch<PipelineError, Trained>(
    async () => {
      const module = method.create({ backbone, classNames: task.dataset.classNames, config, random: createRandom(task.seed).fork(`init-${method.name}`), template: task.dataset.template });
      try {
        const onProgress = task.onProgress === undefined ? undefined : (progress: TrainingProgress) => task.onProgress?.({ phase, progress });
        const validation = validationSplit(task, backbone);
        const report = await trainModule(module, backbone, features, data, {
          ...task.training,
          seed: task.seed,
          method,
          ...(onProgress === undefined ? {} : { onProgress }),
          ...(validation === undefined ? {} : { validation }),
        });
        return { module, report };
      } catch (error) {
        module.dispose();
        throw error;
      }
    },
    (error) =>
      error instanceof TrainingDivergedError
        ? { _tag: 'TrainingDiverged', method: method.name, message: error.message }
        : { _tag: 'EvaluationFailed', step: phase, message: error instanceof Error ? error.message : String(error) },
  );
}

function predictWith(module: TuningModule | undefined, backbone: Backbone, features: FeatureCache, task: TransferTask, step: string) {
  return TE.tryCatch(async () => {
    const started = performance.now();
    const result = await predict(module, backbone, features, task.dataset.test(backbone), { classNames: task.dataset.classNames, template: task.dataset.template });
    return { ...result, seconds: (performance.now() - started) / 1000 };
  }, fromException('EvaluationFailed', { step }));
}

/**
 * Returns the cell's training overrides that distillation shares, so that a distilled module gets the budget of the
 * module it replaces. Settings that only labelled training reads (views, validation, ...) are left out.
 */
function trainingDefaultsOf(training: TransferTask['training']): Partial<TrainingDefaults> {
  if (training === undefined) return {};
  const keys = ['optimizer', 'learningRate', 'epochs', 'batchSize', 'weightDecay', 'warmupEpochs', 'warmupLearningRate', 'momentum'] as const;
  return Object.fromEntries(keys.filter((key) => training[key] !== undefined).map((key) => [key, training[key]]));
}

/** Throws when label-free migration is requested without unlabeled images or with an unknown method. */
function checkLabelFreeSettings(task: TransferTask): void {
  const methods = task.migrate ?? [];
  checkMigrationMethods(methods);
  if (methods.length > 0 && task.unlabeled === undefined) {
    throw new Error(`migrate [${methods.join(', ')}] needs unlabeled images; set unlabeled to a function that opens them for a backbone`);
  }
}

/**
 * Runs evaluate-transfer for one cell. It draws the seeded K-shot training split, trains the module on the
 * source and predicts with it, then preflights it against the target. It predicts with target zero-shot,
 * target + transplanted and (optionally) target + retrained, then computes metrics, cost and the decision.
 * A module that fails preflight ends the run with `IncompatibleModule` before any target compute. With
 * `unlabeled`, it also forecasts retention before the transplanted prediction and measures the label-free
 * migrations in `migrate` as extra conditions, the most accurate of which the decision weighs as `migrate`.
 */
export function evaluateTransfer(task: TransferTask): TE.TaskEither<PipelineError, CellResult> {
  const features = task.features ?? new FeatureCache();
  const key: CellKey = { method: task.method, dataset: task.dataset.name, seed: task.seed, shots: task.shots };
  const disposeAll = (modules: Array<TuningModule | undefined>) => {
    modules.forEach((m) => m?.dispose());
    if (task.features === undefined) features.dispose();
  };
  let trained: Trained | undefined;
  let retrained: Trained | undefined;
  const migratedModules: TuningModule[] = [];

  const run = pipe(
    TE.Do,
    TE.bind('method', () => TE.tryCatch(async () => getMethod(task.method), fromException('InvalidConfig', {}))),
    TE.bind('config', ({ method }) => TE.tryCatch(async () => resolveConfig(method, task.config ?? {}), fromException('InvalidConfig', {}))),
    TE.chainFirst(() => TE.tryCatch(async () => checkLabelFreeSettings(task), fromException('InvalidConfig', {}))),
    TE.bind('shotIndices', () =>
      TE.tryCatch(
        async () => sampleFewShot(task.dataset.train(task.source).labels, task.dataset.classNames.length, task.shots, createRandom(task.seed).fork('shots')).indices,
        fromException('DatasetError', { dataset: task.dataset.name }),
      ),
    ),
    TE.bind('source', ({ method, config, shotIndices }) => train(method, config, task.source, task, fewShotSplit(task, task.source, shotIndices), features, 'train-source')),
    TE.chainFirst(({ source }) => TE.fromIO(() => void (trained = source))),
    TE.bind('sourcePredictions', ({ source }) => predictWith(source.module, task.source, features, task, 'source + module')),
    TE.chainFirst(({ source }) => {
      const mismatches = checkCompatibility(moduleManifest(source.module), task.target, task.dataset.classNames);
      return mismatches.length === 0
        ? TE.right(undefined)
        : TE.left<PipelineError>({ _tag: 'IncompatibleModule', method: task.method, mismatches, message: `${mismatches.length} mismatch(es) with ${task.target.identity.name}` });
    }),
    // Target zero-shot runs first: it fills the shared cache with the target's class prompts, so the
    // forecast's recorded time is only the work it adds to the evaluation.
    TE.bind('zeroShot', () => predictWith(undefined, task.target, features, task, 'target zero-shot')),
    TE.bind('forecast', ({ source }) =>
      task.unlabeled === undefined || task.forecast === false
        ? TE.right(undefined)
        : TE.tryCatch(
            () =>
              forecastCompatibility(source.module, task.source, task.target, task.unlabeled as (backbone: Backbone) => ImageSource, {
                maxImages: forecastImageBudget(task.dataset.test(task.target).size),
                ...(typeof task.forecast === 'object' ? task.forecast : {}),
                features,
                seed: task.seed,
              }),
            fromException('EvaluationFailed', { step: 'forecast' }),
          ),
    ),
    TE.bind('transplanted', ({ source }) => predictWith(source.module, task.target, features, task, 'target + transplanted')),
    TE.bind('retrained', ({ method, config, shotIndices }) =>
      task.retrain === false
        ? TE.right(undefined)
        : pipe(
            train(method, config, task.target, task, fewShotSplit(task, task.target, shotIndices), features, 'retrain-target'),
            TE.chainFirst((r) => TE.fromIO(() => void (retrained = r))),
            TE.chain((r) => pipe(predictWith(r.module, task.target, features, task, 'target + retrained'), TE.map((p) => ({ report: r.report, predictions: p })))),
          ),
    ),
    TE.bind('migrated', ({ source }) =>
      task.unlabeled === undefined || (task.migrate ?? []).length === 0
        ? TE.right<PipelineError, MeasuredMigration[]>([])
        : TE.tryCatch(
            () =>
              measureMigrations(
                source.module,
                task.source,
                task.target,
                task.unlabeled as (backbone: Backbone) => ImageSource,
                task.dataset.test(task.target),
                task.migrate ?? [],
                { ...task.migration, training: { ...trainingDefaultsOf(task.training), ...task.migration?.training }, features, seed: task.seed },
                (module) => migratedModules.push(module),
              ),
            fromException('EvaluationFailed', { step: 'label-free migration' }),
          ),
    ),
    TE.map(({ method, source, sourcePredictions, zeroShot, transplanted, retrained: retrain, forecast, migrated }) => {
      const labels = task.dataset.test(task.target).labels;
      const sets: PredictionSets = {
        labels,
        classNames: task.dataset.classNames,
        sourceModule: sourcePredictions.predictions,
        targetZeroShot: zeroShot.predictions,
        targetTransplanted: transplanted.predictions,
        ...(retrain === undefined ? {} : { targetRetrained: retrain.predictions.predictions }),
        ...(migrated.length === 0 ? {} : { extra: Object.fromEntries(migrated.flatMap((m) => (m.predictions === undefined ? [] : [[m.record.condition, m.predictions]]))) }),
      };
      const conditions: Record<string, ConditionResult> = {
        'source-module': condition(sourcePredictions.predictions, labels, sourcePredictions.seconds),
        'target-zero-shot': condition(zeroShot.predictions, labels, zeroShot.seconds),
        'target-transplanted': condition(transplanted.predictions, labels, transplanted.seconds),
      };
      if (retrain !== undefined) conditions['target-retrained'] = condition(retrain.predictions.predictions, labels, retrain.predictions.seconds);
      for (const m of migrated) if (m.predictions !== undefined) conditions[m.record.condition] = condition(m.predictions, labels);
      const summary = summarizeCell(sets, {
        seed: task.seed,
        bootstrapSamples: task.bootstrapSamples ?? 1000,
        decision: task.decision ?? {},
        train: source.report,
        ...(retrain === undefined ? {} : { retrain: retrain.report }),
        classes: task.dataset.classNames.length,
        shots: task.shots,
        ...(migrated.length === 0 ? {} : { migrations: migrated.map((m) => m.record) }),
      });
      const cell: CellResult = {
        key,
        status: 'ok',
        kind: method.kind,
        depth: source.module.attachment.depth,
        classNames: task.dataset.classNames,
        labels: Array.from(labels),
        conditions,
        metrics: summary.metrics,
        perClass: summary.perClass,
        cost: { train: source.report, ...(retrain === undefined ? {} : { retrain: retrain.report }) },
        decision: summary.decision,
        mismatches: [],
        ...(forecast === undefined ? {} : { forecast }),
        ...(migrated.length === 0 ? {} : { migrations: migrated.map((m) => m.record) }),
      };
      return cell;
    }),
  );

  return async () => {
    try {
      return await run();
    } finally {
      disposeAll([trained?.module, retrained?.module, ...migratedModules]);
    }
  };
}
