import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { DecisionExplanation, DecisionStep } from '../metrics/decision-explanation.js';
import type { MetricValue } from '../metrics/types.js';
import { resultsSchemaVersion, type BackboneRecord, type CellResult, type DecisionRecord, type ResultsFile } from '../pipeline/results.js';
import { version } from '../version.js';

/**
 * Types a codec by the documented interface it decodes to, so that the API docs show that interface rather
 * than the codec's inferred structure. The compiler checks that every decoded value is an `A`. Encoding an `A`
 * is safe as well, because the codecs here copy fields they do not know, such as a cell's `forecast`, unchanged.
 */
function decodingTo<A>(codec: t.Any & t.Decoder<unknown, A>): t.Type<A, unknown> {
  return codec as t.Type<A, unknown>;
}

/** A number that may be NaN, stored as `null` in JSON. */
const nullableNumber = new t.Type<number, number | null, unknown>(
  'number (null for NaN)',
  (input): input is number => typeof input === 'number',
  (input, context) => {
    if (input === null) return t.success(Number.NaN);
    return typeof input === 'number' ? t.success(input) : t.failure(input, context);
  },
  (value) => (Number.isNaN(value) ? null : value),
);

/** Creates a codec of a number in [min, max], or null for NaN. */
function boundedNumber(name: string, min: number, max: number): t.Type<number, number | null, unknown> {
  return new t.Type<number, number | null, unknown>(
    name,
    (input): input is number => typeof input === 'number' && !(input < min || input > max),
    (input, context) => {
      if (input === null) return t.success(Number.NaN);
      return typeof input === 'number' && input >= min && input <= max ? t.success(input) : t.failure(input, context);
    },
    (value) => (Number.isNaN(value) ? null : value),
  );
}

/** Share of test examples, 0..1, or null for NaN. */
const fraction = boundedNumber('fraction 0..1 (null for NaN)', 0, 1);

/** Difference of two fractions, −1..1, or null for NaN. */
const fractionChange = boundedNumber('number -1..1 (null for NaN)', -1, 1);

/** An integer. */
const integer = new t.Type<number, number, unknown>(
  'integer',
  (input): input is number => Number.isInteger(input),
  (input, context) => (Number.isInteger(input) ? t.success(input as number) : t.failure(input, context)),
  t.identity,
);

/** An integer ≥ 0. */
const count = new t.Type<number, number, unknown>(
  'integer >= 0',
  (input): input is number => Number.isInteger(input) && (input as number) >= 0,
  (input, context) => (Number.isInteger(input) && (input as number) >= 0 ? t.success(input as number) : t.failure(input, context)),
  t.identity,
);

/** Identity of a backbone: family, name, revision and weights SHA-256. */
export const backboneIdentityCodec = t.type(
  { family: t.string, name: t.string, revision: t.string, weightsSha256: t.string },
  'BackboneIdentity',
);

/** The sizes of a backbone that a tuning module depends on. */
export const backboneDimensionsCodec = t.type(
  {
    embedDim: count,
    textWidth: count,
    visionWidth: count,
    textLayers: count,
    visionLayers: count,
    textHeads: count,
    visionHeads: count,
    contextLength: count,
    vocabSize: count,
    imageSize: count,
    patchSize: count,
  },
  'BackboneDimensions',
);

/** Codec of a backbone as recorded in results: its identity and dimensions. */
export const backboneRecordCodec = decodingTo<BackboneRecord>(
  t.type({ identity: backboneIdentityCodec, dims: backboneDimensionsCodec }, 'BackboneRecord'),
);

/** Accuracy of one condition and its predicted class per test example. */
export const conditionResultCodec = t.intersection(
  [t.type({ accuracy: fraction, predictions: t.array(integer) }), t.partial({ seconds: t.number })],
  'ConditionResult',
);

/** The family a tuning module belongs to. */
export const moduleKindCodec = t.keyof({ prompt: null, adapter: null, lora: null, deep: null, probe: null });

/** Attachment depth of a tuning module. */
export const attachmentDepthCodec = t.keyof({
  'text-input': null,
  'vision-input': null,
  'text-layers': null,
  'vision-layers': null,
  'both-layers': null,
  'output-features': null,
});

/** Codec of a computed metric value with its unit, direction and optional bootstrap interval, with NaN as `null` in JSON. */
export const metricValueCodec = decodingTo<MetricValue>(
  t.intersection(
    [
      t.type({
        name: t.string,
        value: nullableNumber,
        unit: t.keyof({ fraction: null, ratio: null, points: null, count: null, boolean: null }),
        direction: t.keyof({ 'higher-is-better': null, 'lower-is-better': null }),
      }),
      t.partial({
        interval: t.tuple([nullableNumber, nullableNumber]),
        note: t.string,
        bootstrap: t.type({ samples: count, seed: integer, undefinedSamples: count }),
      }),
    ],
    'MetricValue',
  ),
);

/** Per-class accuracy from source + module to target + transplanted, as fractions. */
export const classChangeCodec = t.type(
  { className: t.string, support: count, source: fraction, transplanted: fraction, change: fractionChange },
  'ClassChange',
);

/** Cost report of one training run. `finalLoss` is null (NaN) for a training-free fit. */
export const trainReportCodec = t.type(
  {
    seconds: t.number,
    examplesSeen: count,
    steps: count,
    epochs: count,
    trainableParameters: count,
    backend: t.string,
    finalLoss: nullableNumber,
  },
  'TrainReport',
);

/** An option of the retrain-or-reuse decision. */
const decisionActionCodec = t.keyof({ reuse: null, retrain: null, 'zero-shot': null, migrate: null });

/** A codec per tag of a union whose members have a `kind` field, each decoding to the member with that tag. */
type TaggedCodecs<U extends { kind: string }> = { readonly [K in U['kind']]: t.Decoder<unknown, Extract<U, { kind: K }>> };

/**
 * Creates a codec of a union tagged by `kind` that reads the tag first. An unknown tag fails once, at the path
 * of `kind`, with every valid tag as the expected type, rather than once per member of the union.
 */
function taggedUnion<U extends { kind: string }>(name: string, members: TaggedCodecs<U>): t.Type<U, unknown> {
  const tags = Object.keys(members) as U['kind'][];
  const tagCodec = t.keyof(Object.fromEntries(tags.map((tag) => [tag, null])) as Record<string, null>);
  const memberOf = (input: unknown): t.Decoder<unknown, U> | undefined => {
    const tag = typeof input === 'object' && input !== null ? (input as { kind?: unknown }).kind : undefined;
    return typeof tag === 'string' && Object.hasOwn(members, tag) ? (members[tag as U['kind']] as t.Decoder<unknown, U>) : undefined;
  };
  return new t.Type<U, unknown>(
    name,
    (input): input is U => memberOf(input)?.decode(input)._tag === 'Right',
    (input, context) => {
      if (typeof input !== 'object' || input === null || Array.isArray(input)) return t.failure(input, context);
      const member = memberOf(input);
      if (member === undefined) {
        const kind = (input as { kind?: unknown }).kind;
        return t.failure(kind, [...context, { key: 'kind', type: tagCodec, actual: kind }]);
      }
      return member.validate(input, context);
    },
    t.identity,
  );
}

/** The explanation of a decision, tagged by `kind`. */
const decisionExplanationCodec = taggedUnion<DecisionExplanation>('DecisionExplanation', {
  'no-option-meets-tolerance': t.intersection([
    t.type({ kind: t.literal('no-option-meets-tolerance'), action: decisionActionCodec, accuracy: fraction, floor: t.number, retrainMeasured: t.boolean }),
    t.partial({ migrationMethod: t.string }),
  ]),
  'only-admissible': t.intersection([
    t.type({ kind: t.literal('only-admissible'), action: decisionActionCodec, floor: t.number, retrainMeasured: t.boolean }),
    t.partial({ migrationMethod: t.string }),
  ]),
  compared: t.intersection([
    t.type({
      kind: t.literal('compared'),
      action: decisionActionCodec,
      runnerUp: decisionActionCodec,
      points: t.number,
      costDifference: t.number,
      retrainMeasured: t.boolean,
    }),
    t.partial({ worth: t.number, migrationMethod: t.string }),
  ]),
});

/** One step of a decision's arithmetic, tagged by `kind`. */
const decisionStepCodec = taggedUnion<DecisionStep>('DecisionStep', {
  'tolerance-none': t.type({ kind: t.literal('tolerance-none') }),
  'tolerance-min-accuracy': t.type({ kind: t.literal('tolerance-min-accuracy'), points: t.number }),
  'tolerance-max-drop': t.type({
    kind: t.literal('tolerance-max-drop'),
    relativeTo: t.keyof({ 'source-module': null, 'target-retrained': null }),
    reference: fraction,
    points: t.number,
    floor: t.number,
  }),
  'retrain-not-weighed': t.type({ kind: t.literal('retrain-not-weighed'), costMeasured: t.boolean }),
  'migration-measured': t.type({ kind: t.literal('migration-measured'), condition: t.string, method: t.string, unlabeledImages: count }),
  'option-accuracy': t.intersection([
    t.type({ kind: t.literal('option-accuracy'), action: decisionActionCodec, accuracy: fraction }),
    t.partial({ meetsTolerance: t.boolean }),
  ]),
  'retrain-cost': t.type({
    kind: t.literal('retrain-cost'),
    measuredOn: t.keyof({ target: null, source: null }),
    weighed: t.boolean,
    hours: t.number,
    computePerHour: t.number,
    labelledExamples: count,
    perLabelledExample: t.number,
    engineerHours: t.number,
    perEngineerHour: t.number,
    total: t.number,
  }),
  'label-free-cost': t.type({
    kind: t.literal('label-free-cost'),
    action: t.keyof({ reuse: null, 'zero-shot': null, migrate: null }),
    hours: t.number,
    computePerHour: t.number,
    engineerHours: t.number,
    perEngineerHour: t.number,
    unlabeledImages: count,
    total: t.number,
  }),
  'value-lost': t.type({
    kind: t.literal('value-lost'),
    action: decisionActionCodec,
    mostAccurate: decisionActionCodec,
    points: t.number,
    perAccuracyPoint: t.number,
    amount: t.number,
  }),
  'option-value': t.type({
    kind: t.literal('option-value'),
    action: decisionActionCodec,
    accuracy: fraction,
    perAccuracyPoint: t.number,
    cost: t.number,
    value: t.number,
  }),
  'decision-most-accurate': t.type({ kind: t.literal('decision-most-accurate'), action: decisionActionCodec }),
  'decision-only-admissible': t.type({ kind: t.literal('decision-only-admissible'), action: decisionActionCodec }),
  'decision-highest-value': t.type({ kind: t.literal('decision-highest-value'), action: decisionActionCodec, value: t.number }),
  'decision-tie': t.type({
    kind: t.literal('decision-tie'),
    action: decisionActionCodec,
    runnerUp: decisionActionCodec,
    value: t.number,
    tieBreak: t.keyof({ 'more-accurate': null, cheaper: null, order: null }),
  }),
});

/**
 * The retrain-or-reuse decision of one cell with the arithmetic behind it. `currency`, `explanation` and `steps`
 * are optional, because files written before they were stored lack them.
 */
export const decisionRecordCodec = decodingTo<DecisionRecord>(
  t.intersection(
    [
      t.type({ action: decisionActionCodec, reason: t.string, arithmetic: t.array(t.string) }),
      t.partial({ currency: t.string, explanation: decisionExplanationCodec, steps: t.array(decisionStepCodec) }),
    ],
    'DecisionRecord',
  ),
);

/** One way a module does not fit the target backbone, found before any compute. */
export const mismatchCodec = t.type(
  {
    field: t.keyof({
      embedDim: null,
      textWidth: null,
      visionWidth: null,
      textLayers: null,
      visionLayers: null,
      textHeads: null,
      visionHeads: null,
      contextLength: null,
      vocabSize: null,
      imageSize: null,
      patchSize: null,
      tokenizer: null,
      classNames: null,
    }),
    module: t.unknown,
    backbone: t.unknown,
    message: t.string,
  },
  'Mismatch',
);

/** The coordinates of a cell in the method × data set × shots × seed matrix. */
export const cellKeyCodec = t.type({ method: t.string, dataset: t.string, seed: integer, shots: count }, 'CellKey');

/** Similarity of two backbones on one kind of features, as a forecast records it. */
const featureSimilarityCodec = t.type({ cka: t.number, procrustesResidual: t.number, rows: count }, 'FeatureSimilarity');

/** A label-free forecast of a cell: predicted retention, interval, evidence and time. */
const forecastCodec = t.type(
  {
    predictedRetention: t.number,
    interval: t.tuple([t.number, t.number]),
    level: t.number,
    evidence: t.intersection([
      t.type({
        featureSet: t.keyof({ image: null, text: null, 'image+text': null }),
        cka: t.number,
        procrustesResidual: t.number,
        zeroShotAgreement: t.number,
        depthCategory: t.keyof({ input: null, layers: null, output: null }),
        images: count,
        classPrompts: count,
      }),
      t.partial({ ckaEstimator: t.literal('debiased'), image: featureSimilarityCodec, text: featureSimilarityCodec }),
    ]),
    extrapolated: t.array(t.string),
    calibration: t.string,
    source: backboneIdentityCodec,
    target: backboneIdentityCodec,
    seconds: t.number,
  },
  'CompatibilityForecast',
);

/** One label-free migration measured in a cell. */
const migrationRecordCodec = t.intersection(
  [
    t.type({
      method: t.keyof({ bridge: null, distill: null }),
      condition: t.string,
      status: t.keyof({ ok: null, 'not-applicable': null }),
      seconds: t.number,
      unlabeledImages: count,
      labelsUsed: t.literal(0),
    }),
    t.partial({ reason: t.string }),
  ],
  'MigrationRecord',
);

/** Codec of the outcome of one cell of the method × data set × shots × seed matrix. */
export const cellResultCodec = decodingTo<CellResult>(
  t.intersection(
    [
      t.type({
        key: cellKeyCodec,
        status: t.keyof({ ok: null, incompatible: null, failed: null }),
        kind: moduleKindCodec,
        depth: attachmentDepthCodec,
        classNames: t.array(t.string),
        labels: t.array(integer),
        conditions: t.record(t.string, conditionResultCodec),
        metrics: t.array(metricValueCodec),
        perClass: t.array(classChangeCodec),
        cost: t.intersection([t.type({ train: trainReportCodec }), t.partial({ retrain: trainReportCodec })], 'Cost'),
        mismatches: t.array(mismatchCodec),
      }),
      t.partial({ decision: decisionRecordCodec, error: t.string, forecast: forecastCodec, migrations: t.array(migrationRecordCodec) }),
    ],
    'CellResult',
  ),
);

/**
 * Codec of results.json, the file `evaluate-transfer` writes. The layout, top down:
 *
 * - `schema`: always `"vlm-compat-results"`; `schemaVersion`: 1 (readers reject other versions).
 * - `libraryVersion`, `createdAt` (ISO 8601), `settings` (the decoded run config, any JSON object).
 * - `source`, `target`: each `{ identity: { family, name, revision, weightsSha256 }, dims: { embedDim, … } }`.
 * - `cells`: one per method × data set × shot count × seed, each with
 *   - `key` `{ method, dataset, seed, shots }`, `status` (`ok`, `incompatible` or `failed`), `kind`, `depth`;
 *   - `classNames`, `labels` (true class per test example);
 *   - `conditions`: by name (`source-module`, `target-zero-shot`, `target-transplanted`, `target-retrained`, …),
 *     each `{ accuracy, predictions }` with accuracy a fraction 0..1;
 *   - `metrics`: `{ name, value, unit, direction, interval?, note?, bootstrap? }` per metric;
 *   - `perClass`: `{ className, support, source, transplanted, change }`, accuracies as fractions, worst first;
 *   - `cost`: `{ train, retrain? }`, each a training report (seconds, examples seen, steps, epochs, …);
 *   - `decision?` `{ action, reason, arithmetic, currency?, explanation?, steps? }` (the last three let a report
 *     write the reason and arithmetic in its own language), `mismatches` (preflight), `error?` (why a cell failed);
 *   - `forecast?` `{ predictedRetention, interval, level, evidence, … }`, the label-free forecast, and
 *     `migrations?` `[{ method, condition, status, seconds, unlabeledImages, labelsUsed }]`.
 *
 * JSON has no NaN, and `JSON.stringify` writes NaN as `null`. Every number that may be NaN (metric values,
 * accuracies, per-class accuracies and changes, interval bounds, a training-free fit's final loss) is
 * therefore read from `null` as NaN and written back as `null`. Unknown extra fields are accepted and kept.
 *
 * {@link validateResults} checks `schema` and `schemaVersion` before this codec runs, so that a file of another
 * version gets a message about versions rather than a list of field errors.
 */
export const resultsFileCodec = decodingTo<ResultsFile>(
  t.type(
    {
      schema: t.literal('vlm-compat-results'),
      schemaVersion: t.literal(resultsSchemaVersion),
      libraryVersion: t.string,
      createdAt: t.string,
      source: backboneRecordCodec,
      target: backboneRecordCodec,
      settings: t.UnknownRecord,
      cells: t.array(cellResultCodec),
    },
    'ResultsFile',
  ),
);

/** One invalid field of a results file. */
export interface ResultsIssue {
  /** Path of the field, such as `cells[3].metrics[0].value`, or empty for the top level. */
  readonly path: string;
  /** The value found there (undefined when the field is missing). */
  readonly value: unknown;
  /** The type the field must have. */
  readonly expected: string;
}

/** Raised when results are not a valid vlm-compat results file; `issues` lists every invalid field. */
export class ResultsValidationError extends Error {
  /** Error name: `ResultsValidationError`. */
  override readonly name = 'ResultsValidationError';
  constructor(
    message: string,
    /** Every invalid field, once per path and expected type. The message lists at most 20 of them. */
    readonly issues: readonly ResultsIssue[],
  ) {
    super(message);
  }
}

/** Most issues listed in an error message; the `issues` field of the error has all of them. */
const maxListedIssues = 20;

/**
 * Checks that `json` (the parsed contents of results.json) is a results file this library can read and
 * returns it typed, with `null` numbers read as NaN. Throws a {@link ResultsValidationError} that names each
 * invalid field by path, with the value found and the type expected. A file of another `schemaVersion` gets
 * a message that names its version and the one this library reads.
 */
export function validateResults(json: unknown): ResultsFile {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ResultsValidationError(
      `Results must be a JSON object, but got ${showValue(json)}. Pass the parsed contents of results.json.`,
      [{ path: '', value: json, expected: 'ResultsFile' }],
    );
  }

  const { schema, schemaVersion, libraryVersion } = json as Record<string, unknown>;
  if (schema !== 'vlm-compat-results') {
    throw new ResultsValidationError(
      `schema is ${showValue(schema)}, but a vlm-compat results file has schema "vlm-compat-results". Pass the results.json that vlm-compat evaluate (or evaluateTransfer through runEvaluation) wrote.`,
      [{ path: 'schema', value: schema, expected: '"vlm-compat-results"' }],
    );
  }
  if (schemaVersion !== resultsSchemaVersion) {
    const writer = typeof libraryVersion === 'string' ? ` (libraryVersion ${libraryVersion})` : '';
    throw new ResultsValidationError(
      `schemaVersion is ${showValue(schemaVersion)}, but vlm-compat ${version} reads only schemaVersion ${resultsSchemaVersion}. ` +
        `Render the file with the vlm-compat version that wrote it${writer}, or run the evaluation again with vlm-compat ${version}.`,
      [{ path: 'schemaVersion', value: schemaVersion, expected: String(resultsSchemaVersion) }],
    );
  }

  const decoded = resultsFileCodec.decode(json);
  if (isLeft(decoded)) {
    const issues = uniqueIssues(decoded.left.map(toIssue));
    const listed = issues.slice(0, maxListedIssues).map(describeIssue);
    const more = issues.length > maxListedIssues ? [`… and ${issues.length - maxListedIssues} more`] : [];
    throw new ResultsValidationError(
      `Results file has ${issues.length} invalid field(s):\n  ${[...listed, ...more].join('\n  ')}\nFix these fields, or write the file again with evaluate-transfer.`,
      issues,
    );
  }
  return decoded.right;
}

/** Containers whose context entries index their members rather than a field, so they add nothing to a path. */
const transparentTags = new Set(['IntersectionType', 'UnionType', 'RefinementType', 'ReadonlyType', 'ExactType']);
const indexedTags = new Set(['ArrayType', 'ReadonlyArrayType', 'TupleType']);

/** Converts an io-ts error to a path such as `cells[3].metrics[0].value`, the value found and the type expected. */
function toIssue(error: t.ValidationError): ResultsIssue {
  let path = '';
  for (let i = 1; i < error.context.length; i++) {
    const parent = error.context[i - 1] as t.ContextEntry;
    const entry = error.context[i] as t.ContextEntry;
    const tag = (parent.type as { _tag?: string })._tag ?? '';
    if (transparentTags.has(tag)) continue;
    if (indexedTags.has(tag)) path += `[${entry.key}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(entry.key)) path += path === '' ? entry.key : `.${entry.key}`;
    else path += `[${JSON.stringify(entry.key)}]`;
  }
  const last = error.context[error.context.length - 1];
  return { path, value: error.value, expected: last?.type.name ?? 'unknown' };
}

function uniqueIssues(issues: readonly ResultsIssue[]): ResultsIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const id = `${issue.path}\u0000${issue.expected}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

function describeIssue(issue: ResultsIssue): string {
  const where = issue.path === '' ? '(top level)' : issue.path;
  if (issue.value === undefined) return `${where} is missing (expected ${issue.expected})`;
  return `${where} is ${showValue(issue.value)} (expected ${issue.expected})`;
}

/** Shows a value in a message, cut to a readable length. */
function showValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
