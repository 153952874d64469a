import * as t from 'io-ts';
import { dirname, isAbsolute, resolve } from 'node:path';
import { getMethod, methodNames } from '../adapters/registry.js';
import type { TuningMethod } from '../adapters/types.js';
import { loadUnlabeledImages, DatasetError, type DatasetProblem } from '../data/index.js';
import { openDatasetEntry } from './datasets.js';
import { bridgedMethodName } from '../migrate/bridge.js';
import { closestName, unknownNameMessage } from '../runtime/names.js';

// Codec names are the descriptions that error messages print after "expected".
const positiveInteger = t.refinement(t.number, (n) => Number.isInteger(n) && n > 0, 'a positive integer');
const integer = t.refinement(t.number, (n) => Number.isInteger(n), 'an integer');
const nonNegative = t.refinement(t.number, (n) => Number.isFinite(n) && n >= 0, 'a number ≥ 0');
const nonNegativeInteger = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 0, 'an integer ≥ 0');
const integerFromTwo = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 2, 'an integer ≥ 2');
const positiveNumber = t.refinement(t.number, (n) => Number.isFinite(n) && n > 0, 'a number above 0');
const stringList = t.array(t.string, 'a list of strings');

/** A backbone: a registered name such as `mini-clip-v1`, or a checkpoint folder. */
const BackboneReference = t.union(
  [
    t.string,
    t.type({
      /** Checkpoint folder, relative to the config file. */
      folder: t.string,
    }),
  ],
  'a backbone name or { "folder": path }',
);

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
], 'an object with "name", "format" and "root"');

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
], 'an object with "method"');

/** Unlabeled images: each data set's training pool or a folder of images. */
const UnlabeledImages = t.union(
  [
    t.literal('train-split'),
    t.intersection([
      t.type({
        /** Folder of unlabeled images; sub-folders are searched too. */
        folder: t.string,
      }),
      t.partial({
        /** File extensions counted as images. Default .jpg .jpeg .png .webp .gif .tif .tiff .avif. */
        extensions: stringList,
      }),
    ]),
  ],
  '"train-split" or { "folder": path }',
);

/** The evaluate config file, as decoded. Paths are resolved against the config file's folder. */
export const EvaluateConfig = t.intersection([
  t.type({
    /** Backbone the modules are trained on. */
    source: BackboneReference,
    /** Backbone the modules are transplanted onto. */
    target: BackboneReference,
    /** Data sets of the matrix, at least one. */
    datasets: t.array(DatasetConfig, 'a list of data sets'),
    /** Tuning modules of the matrix, at least one. */
    modules: t.array(ModuleConfig, 'a list of modules'),
    /** Folder for run.json, cells/ and the reports. */
    output: t.string,
  }),
  t.partial({
    /** Training examples per class (K) of each run. Default [16]. */
    shots: t.array(positiveInteger, 'a list of positive integers'),
    /** Seeds of each run. Default [1]. */
    seeds: t.array(integer, 'a list of integers'),
    /** Train each module afresh on the target as the retrain reference. Default true. */
    retrain: t.boolean,
    /** Bootstrap resamples for metric intervals; 0 turns them off. Default 1000. */
    bootstrap: nonNegativeInteger,
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
    tolerance: t.union(
      [
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
      ],
      'an object whose "kind" is "min-accuracy" or "max-drop"',
    ),
    /** Largest loss against target zero-shot, in points, that still counts as compatible. Default 0. */
    compatibleTolerancePoints: nonNegative,
    /**
     * Unlabeled images for the forecast and the label-free migrations: `train-split` (each data set's
     * training pool, whose labels are never read) or a folder of images, relative to the config file.
     * Default `train-split`. Only read when `forecast` or `migrate` requests it.
     */
    unlabeled: UnlabeledImages,
    /** Forecast each cell's retention from the unlabeled images before the transplanted evaluation. Default false. */
    forecast: t.union(
      [
        t.boolean,
        t.partial({
          /** Most unlabeled images the forecast encodes. Default: 5% of the test split, 8 to 128. */
          maxImages: positiveInteger,
          /** Most classes the forecast compares; a seeded sample is drawn from more. Default 32. */
          maxClasses: integerFromTwo,
        }),
      ],
      'true, false or an object with "maxImages" or "maxClasses"',
    ),
    /** Label-free migrations to measure as extra conditions (`target-bridged`, `target-distilled`). Default none. */
    migrate: t.array(
      t.keyof({
        /** Orthogonal map from target to source image features, for modules that act on output features. */
        bridge: null,
        /** Retrain the module on the target to match the source module's soft predictions. */
        distill: null,
      }),
      'a list of "bridge" and "distill"',
    ),
    /** Settings of the label-free migrations. */
    migration: t.partial({
      /** Most unlabeled images a migration uses; a seeded sample is drawn from more. Default: all of them. */
      maxImages: integerFromTwo,
      /** Softmax temperature of the distillation loss. Default 2. */
      temperature: positiveNumber,
    }),
    /**
     * ES module files that register custom methods or backbones, relative to the config file. Only the
     * vlm-compat command imports them, in order, before it checks method names. `decodeEvaluateConfig` and
     * `runEvaluation` do not import them, so code that calls those functions registers its methods first.
     */
    plugins: stringList,
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
    /** Every problem: its path, then the value and the expected type or what to do. Some span several lines. */
    readonly problems: readonly string[],
    /** A line after the problems on what to do next, such as how custom methods are registered. */
    readonly hint?: string,
  ) {
    // Lines after a problem's first are indented below it, so each problem reads as one block.
    const listed = problems.map((problem) => problem.replaceAll('\n', '\n    '));
    super(`${file} is not a valid vlm-compat config:\n  ${listed.join('\n  ')}${hint === undefined ? '' : `\n${hint}`}`);
  }
}

/** A config problem: the path of the value involved (field names and list positions) and the text after it. */
interface Problem {
  readonly path: readonly string[];
  readonly text: string;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function formatPath(path: readonly string[]): string {
  return path.length === 0 ? '(top level)' : path.join('.');
}

function formatProblem(problem: Problem): string {
  return `${formatPath(problem.path)}: ${problem.text}`;
}

/** Formats a found value for a message: `missing` for undefined, else its JSON, cut to 80 characters. */
function describeValue(value: unknown): string {
  if (value === undefined) return 'missing';
  const json = JSON.stringify(value) ?? String(value);
  return `got ${json.length > 80 ? `${json.slice(0, 80)}…` : json}`;
}

/** Joins choices as `a, b or c`. */
function joinChoices(choices: readonly string[]): string {
  return choices.length <= 1 ? (choices[0] ?? '') : `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`;
}

/** Returns the plural of a description such as `a number ≥ 0` (`numbers ≥ 0`), for the items of a list. */
function pluralDescription(description: string): string {
  const words = /^an? (.+)$/.exec(description)?.[1]?.split(' ');
  if (words === undefined) return `${description} values`;
  // The noun is the last word before a qualifier such as "from 0 to 1" or "≥ 0".
  const qualifier = words.findIndex((word, i) => i > 0 && /^(from|of|in|at|with|that|above|below|between|≥|>|≤|<)$/.test(word));
  const noun = qualifier < 0 ? words.length - 1 : qualifier - 1;
  const singular = words[noun] as string;
  words[noun] = /(s|x|ch|sh)$/.test(singular) ? `${singular}es` : /[^aeiou]y$/.test(singular) ? `${singular.slice(0, -1)}ies` : `${singular}s`;
  return words.join(' ');
}

/**
 * Describes what a codec accepts in plain words, such as `a string` or `"coop" or "imagefolder"`. A codec
 * whose name is not one io-ts derives from its structure (`Array<…>`, `{ … }`, `(… | …)`) is described by
 * its name, so config and method codecs name themselves with a description.
 */
function describeCodec(codec: t.Mixed): string {
  const name = codec.name;
  if (codec instanceof t.StringType) return 'a string';
  if (codec instanceof t.NumberType) return 'a number';
  if (codec instanceof t.BooleanType) return 'true or false';
  if (codec instanceof t.NullType) return 'null';
  if (codec instanceof t.LiteralType) return JSON.stringify(codec.value);
  if (codec instanceof t.KeyofType) return joinChoices(Object.keys(codec.keys as object).map((key) => JSON.stringify(key)));
  if (codec === t.UnknownRecord) return 'an object';
  if (codec === t.UnknownArray) return 'a list';
  if (codec instanceof t.RefinementType && name === 'Int') return 'an integer';
  if (codec instanceof t.RefinementType && name.startsWith('(')) return describeCodec(codec.type as t.Mixed);
  if (codec instanceof t.ArrayType && name.startsWith('Array<')) return `a list of ${pluralDescription(describeCodec(codec.type as t.Mixed))}`;
  if (codec instanceof t.UnionType && name.startsWith('(')) return joinChoices((codec.types as t.Mixed[]).map(describeCodec));
  if (objectFields(codec) !== undefined && /^(\{|\(|Partial<|Exact<|Readonly<)/.test(name)) return 'an object';
  return name;
}

/**
 * Returns the fields an object codec declares, each with its codec, looking through `t.intersection`,
 * `t.exact`, `t.readonly` and refinements. Returns undefined for any other codec, whose fields cannot be listed.
 */
function objectFields(codec: t.Mixed): Map<string, t.Mixed> | undefined {
  if (codec instanceof t.InterfaceType || codec instanceof t.PartialType) return new Map(Object.entries(codec.props as Record<string, t.Mixed>));
  if (codec instanceof t.ExactType || codec instanceof t.ReadonlyType || codec instanceof t.RefinementType) return objectFields(codec.type as t.Mixed);
  if (codec instanceof t.IntersectionType) {
    const members = (codec.types as t.Mixed[]).map(objectFields);
    if (members.some((fields) => fields === undefined)) return undefined;
    const fields = new Map<string, t.Mixed>();
    for (const member of members) for (const [key, field] of member ?? []) if (!fields.has(key)) fields.set(key, field);
    return fields;
  }
  return undefined;
}

/**
 * Returns the field that distinguishes a union's object members, such as `kind` in
 * `{ kind: "min-accuracy", … } | { kind: "max-drop", … }`: a field that every object member declares as
 * a literal or a set of literals. Returns undefined when the union has fewer than two object members or none such.
 */
function discriminantKey(union: t.UnionType<t.Mixed[]>): string | undefined {
  const members = union.types.map(objectFields).filter((fields): fields is Map<string, t.Mixed> => fields !== undefined);
  if (members.length < 2) return undefined;
  const isTag = (codec: t.Mixed | undefined) => codec instanceof t.LiteralType || codec instanceof t.KeyofType;
  return [...(members[0]?.keys() ?? [])].find((key) => members.every((fields) => isTag(fields.get(key))));
}

/**
 * Returns the position of the union member a value is meant for: the one its discriminant field selects,
 * else the first that decodes it, else the only object member for an object. Returns undefined when no
 * member fits, such as an unknown discriminant or a value of a type no member has.
 */
function chooseMember(union: t.UnionType<t.Mixed[]>, value: unknown): number | undefined {
  const key = discriminantKey(union);
  if (key !== undefined && isPlainObject(value)) {
    const selected = union.types.findIndex((member) => objectFields(member)?.get(key)?.is(value[key]) === true);
    return selected < 0 ? undefined : selected;
  }

  const decodes = union.types.findIndex((member) => member.decode(value)._tag === 'Right');
  if (decodes >= 0) return decodes;

  const objects = union.types.flatMap((member, i) => (objectFields(member) === undefined ? [] : [i]));
  return isPlainObject(value) && objects.length === 1 ? objects[0] : undefined;
}

/** Describes a union value that fits no member: its discriminant field with the valid tags, or the value with the union's description. */
function unionProblem(path: readonly string[], union: t.UnionType<t.Mixed[]>, value: unknown): Problem {
  const key = discriminantKey(union);
  if (key !== undefined && isPlainObject(value)) {
    const tags = union.types.flatMap((member) => {
      const tag = objectFields(member)?.get(key);
      return tag === undefined ? [] : [describeCodec(tag)];
    });
    return { path: [...path, key], text: `${describeValue(value[key])}, expected ${joinChoices(tags)}` };
  }
  return { path, text: `${describeValue(value)}, expected ${describeCodec(union)}` };
}

/**
 * Describes one io-ts error as a problem at the value's path. An error inside a union member that the value
 * is not meant for (see {@link chooseMember}) returns undefined, so a union reports only its chosen member's errors.
 */
function describeError(error: t.ValidationError, prefix: readonly string[]): Problem | undefined {
  const path = [...prefix];
  const context = error.context;
  for (let i = 0; i < context.length; i++) {
    const entry = context[i] as t.ContextEntry;
    const parent = context[i - 1]?.type;
    // Keys under an intersection or union are member positions (0, 1, ...), not fields.
    if (entry.key !== '' && !(parent instanceof t.IntersectionType || parent instanceof t.UnionType)) path.push(entry.key);
    if (entry.type instanceof t.UnionType) {
      const union = entry.type as t.UnionType<t.Mixed[]>;
      const chosen = chooseMember(union, entry.actual);
      if (chosen === undefined) return unionProblem(path, union, entry.actual);
      if (context[i + 1]?.key !== String(chosen)) return undefined;
    }
  }
  // A value rejected by a member of an intersection is described by the intersection, which has the name.
  let last = context.length - 1;
  while (last > 0 && context[last - 1]?.type instanceof t.IntersectionType) last--;
  const expected = context[last]?.type;
  return { path, text: `${describeValue(error.value)}, expected ${expected === undefined ? 'a valid value' : describeCodec(expected as t.Mixed)}` };
}

/** Describes io-ts errors as problems, each path starting with `prefix`; repeated problems are listed once. */
function describeErrors(errors: t.Errors, prefix: readonly string[] = []): Problem[] {
  const problems = new Map<string, Problem>();
  for (const error of errors) {
    const problem = describeError(error, prefix);
    if (problem !== undefined) problems.set(formatProblem(problem), problem);
  }
  return [...problems.values()];
}

/**
 * Lists, as problems, the object keys anywhere in `value` that `codec` does not declare, each with the
 * closest declared name. io-ts ignores such keys, so a misspelt optional field (`"epoch": 3`) would
 * otherwise fall back to its default in silence. Lists and records are searched item by item, and a
 * union value is checked against the member {@link chooseMember} selects. `label` names the kind of
 * field at a path in the message, such as `training field`.
 */
function unknownFieldProblems(codec: t.Mixed, value: unknown, path: readonly string[], label: (path: readonly string[]) => string): Problem[] {
  const inner = (itemCodec: t.Mixed, item: unknown, key: string) => unknownFieldProblems(itemCodec, item, [...path, key], label);
  if (codec instanceof t.RefinementType || codec instanceof t.ExactType || codec instanceof t.ReadonlyType) {
    return unknownFieldProblems(codec.type as t.Mixed, value, path, label);
  }
  if (codec instanceof t.ArrayType || codec instanceof t.ReadonlyArrayType) {
    return Array.isArray(value) ? value.flatMap((item, i) => inner(codec.type as t.Mixed, item, String(i))) : [];
  }
  if (codec instanceof t.DictionaryType) {
    return isPlainObject(value) ? Object.entries(value).flatMap(([key, item]) => inner(codec.codomain as t.Mixed, item, key)) : [];
  }
  if (codec instanceof t.UnionType) {
    const union = codec as t.UnionType<t.Mixed[]>;
    const chosen = chooseMember(union, value);
    return chosen === undefined ? [] : unknownFieldProblems(union.types[chosen] as t.Mixed, value, path, label);
  }

  const fields = objectFields(codec);
  if (fields === undefined || !isPlainObject(value)) return [];
  const known = [...fields.keys()];
  return Object.entries(value).flatMap(([key, item]) => {
    const field = fields.get(key);
    if (field === undefined) return [{ path: [...path, key], text: unknownNameMessage(label(path), key, known) }];
    return inner(field, item, key);
  });
}

/** Returns the last field name of a path, skipping list positions. */
function lastFieldName(path: readonly string[]): string | undefined {
  return [...path].reverse().find((key) => !/^\d+$/.test(key));
}

/** Names the kind of field an object at `path` of the config has, for unknown-field messages. */
function configFieldLabel(path: readonly string[]): string {
  const parent = lastFieldName(path);
  if (parent === undefined) return 'config field';
  if (path.length === 2 && parent === 'datasets') return 'data set field';
  if (path.length === 2 && parent === 'modules') return 'module field';
  return `${parent} field`;
}

/**
 * Lists the problems of one module's `options`: every value its method's codec rejects, with the path under
 * `modules.<index>.options`, and every field the codec does not declare, at any depth, with the closest
 * declared name. Options left out are decoded as `{}`, so a method whose codec requires a field is caught as well.
 */
function optionProblems(index: number, method: TuningMethod<unknown>, options: Record<string, unknown> | undefined): Problem[] {
  const prefix = ['modules', String(index), 'options'];
  const label = (path: readonly string[]) => (path.length === prefix.length ? `${method.name} option` : `${lastFieldName(path) ?? method.name} field`);
  const unknown = unknownFieldProblems(method.configCodec as t.Mixed, options ?? {}, prefix, label);
  const decoded = method.configCodec.decode(options ?? {});
  return [...unknown, ...(decoded._tag === 'Left' ? describeErrors(decoded.left, prefix) : [])];
}

/**
 * Checks each module's method name and, for a known method, its options. Works on the value as found, so
 * modules are checked even when other parts of the config are invalid. Returns the problems and the
 * method names that no registered method has.
 */
function moduleProblems(value: unknown): { problems: Problem[]; unknownMethods: string[] } {
  const modules = isPlainObject(value) && Array.isArray(value.modules) ? value.modules : [];
  const known = methodNames();
  const problems: Problem[] = [];
  const unknownMethods: string[] = [];
  modules.forEach((module: unknown, i) => {
    // A module without a string method is reported by the type check.
    if (!isPlainObject(module) || typeof module.method !== 'string') return;
    const path = ['modules', String(i), 'method'];
    if (module.method === bridgedMethodName) {
      problems.push({
        path,
        text: `"${bridgedMethodName}" wraps a module already trained on the source and cannot be trained from a config; list the module's own method and add "migrate": ["bridge"]`,
      });
    } else if (!known.includes(module.method)) {
      problems.push({ path, text: unknownNameMessage('tuning method', module.method, known) });
      unknownMethods.push(module.method);
    } else if (module.options === undefined || isPlainObject(module.options)) {
      problems.push(...optionProblems(i, getMethod(module.method), module.options));
    }
  });
  return { problems, unknownMethods };
}

/** Lists empty matrices and names listed twice: data set names, methods and migrations. */
function listProblems(value: unknown): Problem[] {
  if (!isPlainObject(value)) return [];
  const problems: Problem[] = [];
  const strings = (list: unknown, field?: string): string[] =>
    (Array.isArray(list) ? list : []).flatMap((item: unknown) => {
      const text = field === undefined ? item : isPlainObject(item) ? item[field] : undefined;
      return typeof text === 'string' ? [text] : [];
    });
  const repeated = (names: readonly string[]) => names.find((name, i) => names.indexOf(name) !== i);

  if (Array.isArray(value.datasets) && value.datasets.length === 0) problems.push({ path: ['datasets'], text: 'got [], expected at least one data set' });
  if (Array.isArray(value.modules) && value.modules.length === 0) problems.push({ path: ['modules'], text: 'got [], expected at least one module' });
  const dataset = repeated(strings(value.datasets, 'name'));
  if (dataset !== undefined) problems.push({ path: ['datasets'], text: `the name "${dataset}" is used twice; names identify results` });
  const method = repeated(strings(value.modules, 'method'));
  if (method !== undefined) {
    problems.push({ path: ['modules'], text: `the method "${method}" is listed twice; cells are keyed by method, so give each method one entry` });
  }
  const migration = repeated(strings(value.migrate));
  if (migration !== undefined) problems.push({ path: ['migrate'], text: `"${migration}" is listed twice; list each migration once` });
  return problems;
}

/** Options of {@link decodeEvaluateConfig} and {@link checkEvaluateConfig}. */
export interface DecodeEvaluateConfigOptions {
  /**
   * The plugins the caller imported before decoding, one description each, such as `a.mjs (registered
   * methods x)`. The vlm-compat command sets it, so that an unknown method name is reported with the
   * plugins that were loaded and how plugins register methods.
   */
  readonly loadedPlugins?: readonly string[];
}

/**
 * Returns the line printed after unknown method names, which explains how a custom method is registered.
 * Returns undefined when every unknown name is within two edits of a registered one and the config lists no
 * plugins, because a misspelt built-in method needs only the suggestion.
 */
function unknownMethodHint(value: unknown, unknownMethods: readonly string[], options: DecodeEvaluateConfigOptions): string | undefined {
  if (unknownMethods.length === 0) return undefined;
  const listsPlugins = isPlainObject(value) && Array.isArray(value.plugins) && value.plugins.length > 0;
  const known = methodNames();
  // A name within two edits of a built-in is taken for a typo of it, such as tip-adaptor. Any other unknown
  // name may be a custom method whose plugin was left out: residual-adapter is six edits from clip-adapter.
  if (!listsPlugins && unknownMethods.every((name) => closestName(name, known, 2) !== undefined)) return undefined;

  if (options.loadedPlugins !== undefined) {
    if (!listsPlugins) return 'To use a custom method, list the file that registers it in the config\'s "plugins".';
    const loaded = options.loadedPlugins.length === 0 ? 'none' : options.loadedPlugins.join(', ');
    return (
      `Plugins loaded: ${loaded}. List the file that registers a custom method in "plugins". Plugins must be ES modules, ` +
      `because a CommonJS plugin (require('vlm-compat')) registers its methods in a separate registry that this command does not read.`
    );
  }
  if (listsPlugins) return 'decodeEvaluateConfig does not import the files in "plugins", so import them or call registerMethod before decoding.';
  return 'Register a custom method with registerMethod before decoding the config.';
}

/** The outcome of checking a config value: every problem and, when the value decodes, the config as written. */
interface ConfigCheck {
  readonly problems: Problem[];
  readonly hint: string | undefined;
  readonly config: EvaluateConfig | undefined;
}

/** Collects every problem of a config value in one pass: unknown fields, types, methods, options and repeated names. */
function collectProblems(value: unknown, options: DecodeEvaluateConfigOptions): ConfigCheck {
  const decoded = EvaluateConfig.decode(value);
  const modules = moduleProblems(value);
  const problems = [
    ...unknownFieldProblems(EvaluateConfig, value, [], configFieldLabel),
    ...(decoded._tag === 'Left' ? describeErrors(decoded.left) : []),
    ...modules.problems,
    ...listProblems(value),
  ];
  return { problems, hint: unknownMethodHint(value, modules.unknownMethods, options), config: decoded._tag === 'Right' ? decoded.right : undefined };
}

/** Returns the position of `key` among the children of `node`: a list index, or the key's place in the object as written. */
function keyRank(node: unknown, key: string | undefined): number {
  if (key === undefined) return -1;
  if (Array.isArray(node)) return Number(key);
  if (!isPlainObject(node)) return 0;
  const keys = Object.keys(node);
  return keys.includes(key) ? keys.indexOf(key) : keys.length;
}

/** Sorts problems by where their paths lead in `value`, in the order the file lists its fields; a stable sort keeps the rest in order. */
function sortProblems(value: unknown, problems: readonly Problem[]): Problem[] {
  const compare = (a: Problem, b: Problem): number => {
    let node = value;
    for (let i = 0; i < Math.min(a.path.length, b.path.length); i++) {
      const key = a.path[i] as string;
      if (key !== b.path[i]) return keyRank(node, key) - keyRank(node, b.path[i]);
      node = isPlainObject(node) || Array.isArray(node) ? (node as Record<string, unknown>)[key] : undefined;
    }
    return a.path.length - b.path.length;
  };
  return [...problems].sort(compare);
}

/** Raises one {@link ConfigError} listing `problems` in the order of the file. */
function raiseProblems(file: string, value: unknown, problems: readonly Problem[], hint: string | undefined): never {
  throw new ConfigError(file, sortProblems(value, problems).map(formatProblem), hint);
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
  const decoded = stringList.decode(value.plugins);
  if (decoded._tag === 'Left') throw new ConfigError(file, describeErrors(decoded.left, ['plugins']).map(formatProblem));
  const path = pathResolver(file);
  return decoded.right.map((entry) => ({ entry, path: path(entry) }));
}

/** Returns a function that resolves a path of the config against `file`'s folder. */
function pathResolver(file: string): (path: string) => string {
  const base = dirname(resolve(file));
  return (path) => (isAbsolute(path) ? path : resolve(base, path));
}

/** Resolves the relative paths of a decoded config against `file`'s folder. */
function resolvePaths(config: EvaluateConfig, file: string): EvaluateConfig {
  const path = pathResolver(file);
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

/**
 * Decodes an evaluate config and lists every problem in one {@link ConfigError}, in the order of the file:
 * fields the format does not have (at any depth, with the closest valid name), values of the wrong type,
 * unknown method names (with the closest name), invalid module `options` and names listed twice. Relative
 * paths are resolved against `file`'s folder. Files are not read; {@link checkEvaluateConfig} also checks the data sets.
 */
export function decodeEvaluateConfig(value: unknown, file: string, options: DecodeEvaluateConfigOptions = {}): EvaluateConfig {
  const { problems, hint, config } = collectProblems(value, options);
  if (problems.length > 0 || config === undefined) raiseProblems(file, value, problems, hint);
  return resolvePaths(config, file);
}

/** Returns the config field a data set error is about, such as `splitFile`, or undefined when it is about the files themselves. */
function datasetField(problem: DatasetProblem): string | undefined {
  switch (problem.code) {
    case 'folder-not-found':
      return problem.option;
    case 'split-file-not-found':
    case 'split-file-ambiguous':
    case 'split-file-unreadable':
    case 'split-file-invalid':
      return 'splitFile';
    case 'invalid-option':
      // The loader's split fractions are built from testFraction and valFraction.
      return problem.option === 'fractions' ? 'testFraction' : problem.option;
    default:
      return undefined;
  }
}

/** Turns a data set loader's error into a problem under `path`, naming the config field involved when there is one. */
function loaderProblem(path: readonly string[], error: unknown): Problem {
  if (!(error instanceof Error)) return { path, text: String(error) };
  const field = error instanceof DatasetError ? datasetField(error.problem) : undefined;
  return { path: field === undefined ? path : [...path, field], text: error.message };
}

/**
 * Opens each data set entry that decodes, with the loader options evaluate uses, and returns the problems
 * the loaders raise. These include a missing root or image folder, a split file that is not there (listed
 * with the split files that are), invalid split entries and missing or unreadable images. Images are
 * checked to exist but not decoded.
 */
async function datasetProblems(value: unknown, file: string): Promise<Problem[]> {
  if (!isPlainObject(value) || !Array.isArray(value.datasets)) return [];
  const path = pathResolver(file);
  const problems: Problem[] = [];
  for (const [i, entry] of value.datasets.entries()) {
    const decoded = DatasetConfig.decode(entry);
    // An entry that does not decode is reported by the type check.
    if (decoded._tag === 'Left') continue;
    try {
      await openDatasetEntry({ ...decoded.right, root: path(decoded.right.root) });
    } catch (error) {
      problems.push(loaderProblem(['datasets', String(i)], error));
    }
  }
  return problems;
}

/** Checks the folder of unlabeled images when the forecast or a migration reads it. */
async function unlabeledProblems(value: unknown, file: string): Promise<Problem[]> {
  if (!isPlainObject(value)) return [];
  const forecast = value.forecast !== undefined && value.forecast !== false;
  const migrates = Array.isArray(value.migrate) && value.migrate.length > 0;
  const decoded = UnlabeledImages.decode(value.unlabeled);
  if (!(forecast || migrates) || decoded._tag === 'Left' || decoded.right === 'train-split') return [];
  const folder = decoded.right;
  try {
    await loadUnlabeledImages({ folder: pathResolver(file)(folder.folder), ...(folder.extensions === undefined ? {} : { extensions: folder.extensions }) });
    return [];
  } catch (error) {
    return [loaderProblem(['unlabeled'], error)];
  }
}

/**
 * Decodes an evaluate config as {@link decodeEvaluateConfig} does and also opens what evaluate would open
 * before its first cell: every data set (its root, split file, image folder, entries and image files) and
 * the folder of unlabeled images when the forecast or a migration reads it. No image is decoded and no
 * backbone is loaded. Raises one {@link ConfigError} with every problem.
 */
export async function checkEvaluateConfig(value: unknown, file: string, options: DecodeEvaluateConfigOptions = {}): Promise<EvaluateConfig> {
  const { problems, hint, config } = collectProblems(value, options);
  const files = [...(await datasetProblems(value, file)), ...(await unlabeledProblems(value, file))];
  if (problems.length > 0 || files.length > 0 || config === undefined) raiseProblems(file, value, [...problems, ...files], hint);
  return resolvePaths(config, file);
}
