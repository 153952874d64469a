import * as t from 'io-ts';
import { dirname, isAbsolute, resolve } from 'node:path';
import { getMethod, methodNames } from '../adapters/registry.js';
import type { TuningMethod } from '../adapters/types.js';
import { bridgedMethodName } from '../migrate/bridge.js';
import { unknownNameMessage } from '../runtime/names.js';

const positiveInteger = t.refinement(t.number, (n) => Number.isInteger(n) && n > 0, 'PositiveInteger');
const nonNegative = t.refinement(t.number, (n) => Number.isFinite(n) && n >= 0, 'NonNegativeNumber');

/** A backbone: a registered name such as `mini-clip-v1`, or a checkpoint folder. */
const BackboneReference = t.union([
  t.string,
  t.type({
    /** Checkpoint folder, relative to the config file. */
    folder: t.string,
  }),
]);

const DatasetConfig = t.intersection([
  t.type({
    /** Name shown in reports. */
    name: t.string,
    /** `coop` (a split_zhou_*.json file next to an image folder) or `imagefolder` (one folder per class). */
    format: t.keyof({
      /** A CoOp split file (split_zhou_*.json) and its image folder. */
      coop: null,
      /** One sub-folder of images per class, split by the fractions below. */
      imagefolder: null,
    }),
    /** Folder of the data set, relative to the config file. */
    root: t.string,
  }),
  t.partial({
    /** CoOp only: split file, relative to `root`. Default: the only split_zhou_*.json in `root`. */
    splitFile: t.string,
    /** CoOp only: folder the split's image paths are relative to. Default: CoOp's folder for a standard data set, else `images`. */
    imageDir: t.string,
    /** Prompt template such as "a photo of a {}, a type of pet.". */
    template: t.string,
    /** ImageFolder only: share of each class held out for validation; read only together with `testFraction`. */
    valFraction: nonNegative,
    /** ImageFolder only: share of each class held out for test; the rest minus `valFraction` trains. */
    testFraction: nonNegative,
  }),
]);

const TrainingOverrides = t.partial({
  /** `sgd` or `adamw`. */
  optimizer: t.keyof({
    /** SGD with momentum and coupled L2 weight decay. */
    sgd: null,
    /** AdamW with decoupled weight decay. */
    adamw: null,
  }),
  /** Learning rate after warmup, decayed to 0 by a cosine schedule. */
  learningRate: nonNegative,
  /** Passes over the K-shot training set. */
  epochs: nonNegative,
  /** Examples per optimizer step. */
  batchSize: positiveInteger,
  /** Weight decay factor. */
  weightDecay: nonNegative,
  /** Epochs at the constant warmup learning rate before the cosine schedule. */
  warmupEpochs: nonNegative,
  /** Learning rate during warmup. */
  warmupLearningRate: nonNegative,
  /** SGD momentum. */
  momentum: nonNegative,
  /** Augmented views of each training image for modules that read frozen features. */
  views: positiveInteger,
});

const ModuleConfig = t.intersection([
  t.type({
    /** Registry name of the tuning method, such as `coop` or `clip-adapter`. */
    method: t.string,
  }),
  t.partial({
    /** The method's config; fields left out take the method's defaults. */
    options: t.UnknownRecord,
    /** Overrides of the method's default training settings. */
    training: TrainingOverrides,
  }),
]);

/** The evaluate config file, as decoded. Paths are resolved against the config file's folder. */
export const EvaluateConfig = t.intersection([
  t.type({
    /** Backbone the modules are trained on. */
    source: BackboneReference,
    /** Backbone the modules are transplanted onto. */
    target: BackboneReference,
    /** Data sets of the matrix, at least one. */
    datasets: t.array(DatasetConfig),
    /** Tuning modules of the matrix, at least one. */
    modules: t.array(ModuleConfig),
    /** Folder for run.json, cells/ and the reports. */
    output: t.string,
  }),
  t.partial({
    /** Training examples per class (K) of each run. Default [16]. */
    shots: t.array(positiveInteger),
    /** Seeds of each run. Default [1]. */
    seeds: t.array(t.Int),
    /** Train each module afresh on the target as the retrain reference. Default true. */
    retrain: t.boolean,
    /** Bootstrap resamples for metric intervals; 0 turns them off. Default 1000. */
    bootstrap: t.refinement(t.Int, (n) => n >= 0, 'NonNegativeInteger'),
    /** Prices for the cost model; every price left out is 0. */
    prices: t.partial({
      /** Label written before every amount. Default `$`. */
      currency: t.string,
      /** Price of one hour of compute. */
      computePerHour: nonNegative,
      /** Price of labelling one training example. */
      perLabelledExample: nonNegative,
      /** Price of one engineer hour. */
      perEngineerHour: nonNegative,
      /** Engineer hours one retrain takes. */
      engineerHoursPerRetrain: nonNegative,
      /** Engineer hours one label-free migration takes. */
      engineerHoursPerMigration: nonNegative,
      /** Value of one accuracy point over the period the chosen option serves. */
      perAccuracyPoint: nonNegative,
    }),
    /** The lowest accuracy the business accepts, in points: an absolute minimum or a maximum drop. */
    tolerance: t.union([
      t.type({
        /** An absolute minimum accuracy. */
        kind: t.literal('min-accuracy'),
        /** The minimum, in accuracy points (0..100). */
        points: nonNegative,
      }),
      t.type({
        /** A maximum drop below a reference accuracy. */
        kind: t.literal('max-drop'),
        /** The largest acceptable drop, in accuracy points. */
        points: nonNegative,
        /** The reference the drop is measured from. */
        relativeTo: t.keyof({
          /** Accuracy of source + module, what users had before the update. */
          'source-module': null,
          /** Accuracy of the module retrained on the target. */
          'target-retrained': null,
        }),
      }),
    ]),
    /** Largest loss against target zero-shot, in points, that still counts as compatible. Default 0. */
    compatibleTolerancePoints: nonNegative,
    /**
     * Unlabeled images for the forecast and the label-free migrations: `train-split` (each data set's
     * training pool, whose labels are never read) or a folder of images, relative to the config file.
     * Default `train-split`. Only read when `forecast` or `migrate` requests it.
     */
    unlabeled: t.union([
      t.literal('train-split'),
      t.intersection([
        t.type({
          /** Folder of unlabeled images; sub-folders are searched too. */
          folder: t.string,
        }),
        t.partial({
          /** File extensions counted as images. Default .jpg .jpeg .png .webp .gif .tif .tiff .avif. */
          extensions: t.array(t.string),
        }),
      ]),
    ]),
    /** Forecast each cell's retention from the unlabeled images before the transplanted evaluation. Default false. */
    forecast: t.union([
      t.boolean,
      t.partial({
        /** Most unlabeled images the forecast encodes. Default: 5% of the test split, 16 to 128. */
        maxImages: positiveInteger,
        /** Most classes the forecast compares; a seeded sample is drawn from more. Default 32. */
        maxClasses: t.refinement(t.number, (n) => Number.isInteger(n) && n >= 2, 'an integer of at least 2'),
      }),
    ]),
    /** Label-free migrations to measure as extra conditions (`target-bridged`, `target-distilled`). Default none. */
    migrate: t.array(
      t.keyof({
        /** Orthogonal map from target to source image features, for modules that act on output features. */
        bridge: null,
        /** Retrain the module on the target to match the source module's soft predictions. */
        distill: null,
      }),
    ),
    /** Settings of the label-free migrations. */
    migration: t.partial({
      /** Most unlabeled images a migration uses; a seeded sample is drawn from more. Default: all of them. */
      maxImages: t.refinement(t.number, (n) => Number.isInteger(n) && n >= 2, 'an integer of at least 2'),
      /** Softmax temperature of the distillation loss. Default 2. */
      temperature: t.refinement(t.number, (n) => Number.isFinite(n) && n > 0, 'a number above 0'),
    }),
    /**
     * ES module files that register custom methods or backbones, relative to the config file. Only the
     * vlm-compat command imports them, in order, before it checks method names. `decodeEvaluateConfig` and
     * `runEvaluation` do not import them, so code that calls those functions registers its methods first.
     */
    plugins: t.array(t.string),
    /** Tensor backend; the CLI's --backend overrides it. Default: the first that loads. */
    backend: t.keyof({
      /** @tensorflow/tfjs-node-gpu (CUDA). */
      'tensorflow-gpu': null,
      /** @tensorflow/tfjs-node (CPU, native TensorFlow). */
      tensorflow: null,
      /** @tensorflow/tfjs-backend-wasm. */
      wasm: null,
      /** @tensorflow/tfjs-backend-cpu (plain JavaScript). */
      cpu: null,
    }),
  }),
]);

/** The decoded evaluate config. */
export type EvaluateConfig = t.TypeOf<typeof EvaluateConfig>;

/** Raised for an invalid config; every problem is listed with its path, value and expected type. */
export class ConfigError extends Error {
  /** Error name: `ConfigError`. */
  override readonly name = 'ConfigError';
  constructor(
    /** The config file, as given. */
    readonly file: string,
    /** Every problem, one line each: path, value and expected type. */
    readonly problems: readonly string[],
    /** A line after the problems on what to do next, such as how custom methods are registered. */
    readonly hint?: string,
  ) {
    super(`${file} is not a valid vlm-compat config:\n  ${problems.join('\n  ')}${hint === undefined ? '' : `\n${hint}`}`);
  }
}

/** Describes io-ts errors as `path: got value, expected type` lines, each path starting with `prefix`. */
function describeErrors(errors: t.Errors, prefix = ''): string[] {
  const lines = new Set<string>();
  for (const error of errors) {
    // Keys under an intersection or union name its members (0, 1, ...), not fields, so they are left out.
    const keys = error.context
      .filter((entry, i) => {
        const parent = error.context[i - 1]?.type;
        return entry.key !== '' && !(parent instanceof t.IntersectionType || parent instanceof t.UnionType);
      })
      .map((entry) => entry.key);
    const path = [prefix, ...keys].filter((key) => key !== '').join('.');
    const expected = error.context[error.context.length - 1]?.type.name ?? 'a valid value';
    lines.add(`${path === '' ? '(top level)' : path}: got ${JSON.stringify(error.value) ?? 'nothing'}, expected ${expected}`);
  }
  return [...lines];
}

/**
 * Returns the field names an object codec declares, looking through `t.intersection`, `t.exact`,
 * `t.readonly` and refinements. Returns undefined for any other codec, whose fields cannot be listed.
 */
function fieldNames(codec: t.Mixed): string[] | undefined {
  if (codec instanceof t.InterfaceType || codec instanceof t.PartialType) return Object.keys(codec.props as object);
  if (codec instanceof t.ExactType || codec instanceof t.ReadonlyType || codec instanceof t.RefinementType) return fieldNames(codec.type as t.Mixed);
  if (codec instanceof t.IntersectionType) {
    const members = (codec.types as t.Mixed[]).map(fieldNames);
    return members.some((names) => names === undefined) ? undefined : members.flatMap((names) => names ?? []);
  }
  return undefined;
}

/** Lists, as config problems, the fields of the top level, of each data set and of each module that the config format does not have. */
function unknownFields(value: unknown): string[] {
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isObject(value)) return [];
  const problems: string[] = [];
  const check = (path: string, object: unknown, codec: t.Mixed) => {
    if (!isObject(object)) return;
    const known = fieldNames(codec) ?? [];
    for (const key of Object.keys(object)) {
      if (!known.includes(key)) problems.push(`${path === '' ? '' : `${path}.`}${key}: ${unknownNameMessage('config field', key, known)}`);
    }
  };
  check('', value, EvaluateConfig);
  if (Array.isArray(value.datasets)) value.datasets.forEach((d, i) => check(`datasets.${i}`, d, DatasetConfig));
  if (Array.isArray(value.modules)) value.modules.forEach((m, i) => check(`modules.${i}`, m, ModuleConfig));
  return problems;
}

/**
 * Lists the problems of one module's `options`: every value its method's codec rejects, with the path under
 * `modules.<index>.options`, and every field the codec does not declare, with the closest declared name.
 * Options left out are decoded as `{}`, so a method whose codec requires a field is caught as well.
 */
function optionProblems(index: number, method: TuningMethod<unknown>, options: Record<string, unknown> | undefined): string[] {
  const prefix = `modules.${index}.options`;
  const problems: string[] = [];
  // io-ts ignores fields a codec does not name, so a misspelt option would silently take its default.
  const known = fieldNames(method.configCodec);
  if (known !== undefined) {
    for (const key of Object.keys(options ?? {})) {
      if (!known.includes(key)) problems.push(`${prefix}.${key}: ${unknownNameMessage(`${method.name} option`, key, known)}`);
    }
  }
  const decoded = method.configCodec.decode(options ?? {});
  if (decoded._tag === 'Left') problems.push(...describeErrors(decoded.left, prefix));
  return problems;
}

/** Options of {@link decodeEvaluateConfig}. */
export interface DecodeEvaluateConfigOptions {
  /**
   * The plugins the caller imported before decoding, one description each, such as `a.mjs (registered
   * methods x)`. The vlm-compat command sets it, so that an unknown method name is reported with the
   * plugins that were loaded and how plugins register methods.
   */
  readonly loadedPlugins?: readonly string[];
}

/** Returns the line printed after an unknown method name, which tells how a custom method is registered. */
function unknownMethodHint(config: EvaluateConfig, options: DecodeEvaluateConfigOptions): string {
  if (options.loadedPlugins !== undefined) {
    const loaded = options.loadedPlugins.length === 0 ? 'none' : options.loadedPlugins.join(', ');
    return (
      `Plugins loaded: ${loaded}. List the file that registers a custom method in "plugins". Plugins must be ES modules, ` +
      `because a CommonJS plugin (require('vlm-compat')) registers its methods in a separate registry that this command does not read.`
    );
  }
  if ((config.plugins ?? []).length > 0) {
    return 'decodeEvaluateConfig does not import the files in "plugins", so import them or call registerMethod before decoding.';
  }
  return 'Register a custom method with registerMethod before decoding the config.';
}

/** An entry of a config's `plugins`, as written and as resolved. */
export interface PluginPath {
  /** The entry as written in the config. */
  readonly entry: string;
  /** Absolute path of the file: the entry resolved against the config file's folder. */
  readonly path: string;
}

/**
 * Returns a config's `plugins` in order, each resolved against `file`'s folder. It reads only that field, so
 * plugins can be imported before the rest of the config is decoded, and returns [] when the field is absent.
 * Raises a {@link ConfigError} when `plugins` is not an array of strings.
 */
export function resolvePluginPaths(value: unknown, file: string): PluginPath[] {
  if (typeof value !== 'object' || value === null || !('plugins' in value)) return [];
  const decoded = t.array(t.string).decode(value.plugins);
  if (decoded._tag === 'Left') throw new ConfigError(file, describeErrors(decoded.left, 'plugins'));
  const base = dirname(resolve(file));
  return decoded.right.map((entry) => ({ entry, path: isAbsolute(entry) ? entry : resolve(base, entry) }));
}

/**
 * Decodes an evaluate config: checks every field's type, that method names exist (suggesting the closest
 * on a typo), decodes each module's `options` with its method's codec, and resolves relative paths against
 * `file`'s folder. Every problem is listed in one {@link ConfigError}.
 */
export function decodeEvaluateConfig(value: unknown, file: string, options: DecodeEvaluateConfigOptions = {}): EvaluateConfig {
  // io-ts ignores fields a codec does not name, so a misspelt optional field ("forcast") would silently
  // fall back to its default. Unknown fields are rejected with the closest known name.
  const unknown = unknownFields(value);
  if (unknown.length > 0) throw new ConfigError(file, unknown);
  const decoded = EvaluateConfig.decode(value);
  if (decoded._tag === 'Left') throw new ConfigError(file, describeErrors(decoded.left));
  const config = decoded.right;

  const problems: string[] = [];
  // The bridged wrapper needs a module already trained on the source, so a matrix cannot train it.
  const known = methodNames().filter((name) => name !== bridgedMethodName);
  let unknownMethod = false;
  config.modules.forEach((m, i) => {
    if (m.method === bridgedMethodName) {
      problems.push(`modules.${i}.method: "${bridgedMethodName}" wraps a module already trained on the source and cannot be trained from a config; list the module's own method and add "migrate": ["bridge"]`);
    } else if (!known.includes(m.method)) {
      problems.push(`modules.${i}.method: ${unknownNameMessage('tuning method', m.method, known)}`);
      unknownMethod = true;
    } else {
      problems.push(...optionProblems(i, getMethod(m.method), m.options));
    }
  });
  if (config.datasets.length === 0) problems.push('datasets: got [], expected at least one data set');
  if (config.modules.length === 0) problems.push('modules: got [], expected at least one module');
  const names = config.datasets.map((d) => d.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) problems.push(`datasets: the name "${duplicate}" is used twice; names identify results`);
  const methods = config.modules.map((m) => m.method);
  const repeatedMethod = methods.find((method, i) => methods.indexOf(method) !== i);
  if (repeatedMethod !== undefined) {
    problems.push(`modules: the method "${repeatedMethod}" is listed twice; cells are keyed by method, so give each method one entry`);
  }
  const migrations = config.migrate ?? [];
  const repeatedMigration = migrations.find((m, i) => migrations.indexOf(m) !== i);
  if (repeatedMigration !== undefined) problems.push(`migrate: "${repeatedMigration}" is listed twice; list each migration once`);
  if (problems.length > 0) throw new ConfigError(file, problems, unknownMethod ? unknownMethodHint(config, options) : undefined);

  const base = dirname(resolve(file));
  const path = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const backbone = (b: EvaluateConfig['source']) => (typeof b === 'string' ? b : { folder: path(b.folder) });
  return {
    ...config,
    source: backbone(config.source),
    target: backbone(config.target),
    datasets: config.datasets.map((d) => ({ ...d, root: path(d.root) })),
    ...(config.unlabeled === undefined || config.unlabeled === 'train-split' ? {} : { unlabeled: { ...config.unlabeled, folder: path(config.unlabeled.folder) } }),
    output: path(config.output),
    ...(config.plugins === undefined ? {} : { plugins: config.plugins.map(path) }),
  };
}
