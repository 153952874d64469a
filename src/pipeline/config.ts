import * as t from 'io-ts';
import { dirname, isAbsolute, resolve } from 'node:path';
import { methodNames } from '../adapters/registry.js';
import { unknownNameMessage } from '../runtime/names.js';

const positiveInteger = t.refinement(t.number, (n) => Number.isInteger(n) && n > 0, 'PositiveInteger');
const nonNegative = t.refinement(t.number, (n) => Number.isFinite(n) && n >= 0, 'NonNegativeNumber');

/** A backbone: a registered name such as `mini-clip-v1`, or a checkpoint folder. */
const BackboneReference = t.union([t.string, t.type({ folder: t.string })]);

const DatasetConfig = t.intersection([
  t.type({
    /** Name shown in reports. */
    name: t.string,
    /** `coop` (a split_zhou_*.json file next to an image folder) or `imagefolder` (one folder per class). */
    format: t.keyof({ coop: null, imagefolder: null }),
    /** Folder of the data set, relative to the config file. */
    root: t.string,
  }),
  t.partial({
    splitFile: t.string,
    imageDir: t.string,
    /** Prompt template such as "a photo of a {}, a type of pet.". */
    template: t.string,
    /** ImageFolder only: shares of examples held out for validation and test. */
    valFraction: nonNegative,
    testFraction: nonNegative,
  }),
]);

const TrainingOverrides = t.partial({
  optimizer: t.keyof({ sgd: null, adamw: null }),
  learningRate: nonNegative,
  epochs: nonNegative,
  batchSize: positiveInteger,
  weightDecay: nonNegative,
  warmupEpochs: nonNegative,
  warmupLearningRate: nonNegative,
  momentum: nonNegative,
  views: positiveInteger,
});

const ModuleConfig = t.intersection([
  t.type({ method: t.string }),
  t.partial({ options: t.UnknownRecord, training: TrainingOverrides }),
]);

/** The evaluate config file, as decoded. Paths are resolved against the config file's folder. */
export const EvaluateConfig = t.intersection([
  t.type({
    source: BackboneReference,
    target: BackboneReference,
    datasets: t.array(DatasetConfig),
    modules: t.array(ModuleConfig),
    /** Folder for run.json, cells/ and the reports. */
    output: t.string,
  }),
  t.partial({
    shots: t.array(positiveInteger),
    seeds: t.array(t.Int),
    /** Train each module afresh on the target as the retrain reference. Default true. */
    retrain: t.boolean,
    /** Bootstrap resamples for metric intervals; 0 turns them off. */
    bootstrap: t.refinement(t.Int, (n) => n >= 0, 'NonNegativeInteger'),
    /** Prices for the cost model; every price left out is 0. */
    prices: t.partial({
      currency: t.string,
      computePerHour: nonNegative,
      perLabelledExample: nonNegative,
      perEngineerHour: nonNegative,
      engineerHoursPerRetrain: nonNegative,
      engineerHoursPerMigration: nonNegative,
      perAccuracyPoint: nonNegative,
    }),
    /** The lowest accuracy the business accepts, in points: an absolute minimum or a maximum drop. */
    tolerance: t.union([
      t.type({ kind: t.literal('min-accuracy'), points: nonNegative }),
      t.type({ kind: t.literal('max-drop'), points: nonNegative, relativeTo: t.keyof({ 'source-module': null, 'target-retrained': null }) }),
    ]),
    /** Largest loss against target zero-shot, in points, that still counts as compatible. Default 0. */
    compatibleTolerancePoints: nonNegative,
    backend: t.keyof({ 'tensorflow-gpu': null, tensorflow: null, wasm: null, cpu: null }),
  }),
]);

/** The decoded evaluate config. */
export type EvaluateConfig = t.TypeOf<typeof EvaluateConfig>;

/** Raised for an invalid config; every problem is listed with its path, value and expected type. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file} is not a valid vlm-compat config:\n  ${problems.join('\n  ')}`);
  }
}

function describeErrors(errors: t.Errors): string[] {
  const lines = new Set<string>();
  for (const error of errors) {
    // Keys under an intersection or union name its members (0, 1, ...), not fields, so they are left out.
    const path = error.context
      .filter((entry, i) => {
        const parent = error.context[i - 1]?.type;
        return entry.key !== '' && !(parent instanceof t.IntersectionType || parent instanceof t.UnionType);
      })
      .map((entry) => entry.key)
      .join('.');
    const expected = error.context[error.context.length - 1]?.type.name ?? 'a valid value';
    lines.add(`${path === '' ? '(top level)' : path}: got ${JSON.stringify(error.value) ?? 'nothing'}, expected ${expected}`);
  }
  return [...lines];
}

/**
 * Decodes an evaluate config: checks every field's type, that method names exist (suggesting the closest
 * on a typo), and resolves relative paths against `file`'s folder.
 */
export function decodeEvaluateConfig(value: unknown, file: string): EvaluateConfig {
  const decoded = EvaluateConfig.decode(value);
  if (decoded._tag === 'Left') throw new ConfigError(file, describeErrors(decoded.left));
  const config = decoded.right;

  const problems: string[] = [];
  const known = methodNames();
  config.modules.forEach((m, i) => {
    if (!known.includes(m.method)) problems.push(`modules.${i}.method: ${unknownNameMessage('tuning method', m.method, known)}`);
  });
  if (config.datasets.length === 0) problems.push('datasets: got [], expected at least one data set');
  if (config.modules.length === 0) problems.push('modules: got [], expected at least one module');
  const names = config.datasets.map((d) => d.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) problems.push(`datasets: the name "${duplicate}" is used twice; names identify results`);
  if (problems.length > 0) throw new ConfigError(file, problems);

  const base = dirname(resolve(file));
  const path = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const backbone = (b: EvaluateConfig['source']) => (typeof b === 'string' ? b : { folder: path(b.folder) });
  return {
    ...config,
    source: backbone(config.source),
    target: backbone(config.target),
    datasets: config.datasets.map((d) => ({ ...d, root: path(d.root) })),
    output: path(config.output),
  };
}
