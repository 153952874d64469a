import type { ResultsFile } from '../pipeline/results.js';

/**
 * Key order of one kind of object: `keys` first in this order, then any other key in alphabetical order.
 * `children` gives the order of nested objects by key, and `values` the order of every value of a record
 * (such as `conditions`). Objects without an order get alphabetical keys.
 */
interface KeyOrder {
  readonly keys?: readonly string[];
  readonly children?: Readonly<Record<string, KeyOrder>>;
  readonly values?: KeyOrder;
}

const trainReportOrder: KeyOrder = { keys: ['seconds', 'examplesSeen', 'steps', 'epochs', 'trainableParameters', 'backend', 'finalLoss'] };

const backboneOrder: KeyOrder = {
  keys: ['identity', 'dims'],
  children: {
    identity: { keys: ['family', 'name', 'revision', 'weightsSha256'] },
    dims: {
      keys: ['embedDim', 'textWidth', 'visionWidth', 'textLayers', 'visionLayers', 'textHeads', 'visionHeads', 'contextLength', 'vocabSize', 'imageSize', 'patchSize'],
    },
  },
};

const decisionExplanationOrder: KeyOrder = {
  keys: ['kind', 'action', 'accuracy', 'floor', 'runnerUp', 'points', 'worth', 'costDifference', 'retrainMeasured', 'migrationMethod'],
};

/** Every field of every step kind: the tag and the options first, then the inputs of each formula before its results. */
const decisionStepOrder: KeyOrder = {
  keys: [
    'kind',
    'action',
    'mostAccurate',
    'runnerUp',
    'relativeTo',
    'reference',
    'points',
    'floor',
    'condition',
    'method',
    'measuredOn',
    'weighed',
    'costMeasured',
    'accuracy',
    'meetsTolerance',
    'hours',
    'computePerHour',
    'labelledExamples',
    'perLabelledExample',
    'engineerHours',
    'perEngineerHour',
    'unlabeledImages',
    'perAccuracyPoint',
    'amount',
    'cost',
    'total',
    'value',
    'tieBreak',
  ],
};

const cellOrder: KeyOrder = {
  keys: ['key', 'status', 'kind', 'depth', 'classNames', 'labels', 'conditions', 'metrics', 'perClass', 'cost', 'decision', 'mismatches', 'error'],
  children: {
    key: { keys: ['method', 'dataset', 'seed', 'shots'] },
    conditions: {
      keys: ['source-module', 'target-zero-shot', 'target-transplanted', 'target-retrained'],
      values: { keys: ['accuracy', 'predictions'] },
    },
    metrics: {
      keys: ['name', 'value', 'unit', 'direction', 'interval', 'note', 'bootstrap'],
      children: { bootstrap: { keys: ['samples', 'seed', 'undefinedSamples'] } },
    },
    perClass: { keys: ['className', 'support', 'source', 'transplanted', 'change'] },
    cost: { keys: ['train', 'retrain'], children: { train: trainReportOrder, retrain: trainReportOrder } },
    decision: {
      keys: ['action', 'reason', 'arithmetic', 'currency', 'explanation', 'steps'],
      children: { explanation: decisionExplanationOrder, steps: decisionStepOrder },
    },
    mismatches: { keys: ['field', 'module', 'backbone', 'message'] },
  },
};

const resultsOrder: KeyOrder = {
  keys: ['schema', 'schemaVersion', 'libraryVersion', 'createdAt', 'source', 'target', 'settings', 'cells'],
  children: { source: backboneOrder, target: backboneOrder, cells: cellOrder },
};

/**
 * Serializes results as pretty JSON that is byte-for-byte the same for the same results. Keys follow the
 * order of the results.json schema, with unknown keys after them in alphabetical order. Arrays of numbers
 * or strings stay on one line, NaN and infinities are written as `null`, and the text ends with a newline.
 * {@link validateResults} reads the output back, with `null` numbers as NaN.
 */
export function renderJson(results: ResultsFile): string {
  return `${serialize(results, resultsOrder, '')}\n`;
}

const indentStep = '  ';

function serialize(value: unknown, order: KeyOrder | undefined, indent: string): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);

  const inner = indent + indentStep;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((item) => item === null || ['number', 'string', 'boolean'].includes(typeof item))) {
      return `[${value.map((item) => serialize(item, undefined, inner)).join(', ')}]`;
    }
    return `[\n${value.map((item) => inner + serialize(item, order, inner)).join(',\n')}\n${indent}]`;
  }

  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = orderedKeys(record, order?.keys ?? []);
    if (keys.length === 0) return '{}';
    const entries = keys.map((key) => {
      const childOrder = order?.values ?? order?.children?.[key];
      return `${inner}${JSON.stringify(key)}: ${serialize(record[key], childOrder, inner)}`;
    });
    return `{\n${entries.join(',\n')}\n${indent}}`;
  }
  throw new TypeError(`Results contain a ${typeof value}, which JSON cannot hold; only plain data can be serialized.`);
}

/** Returns the keys of `record` that hold a value: `known` ones first in that order, then the rest alphabetically. */
function orderedKeys(record: Record<string, unknown>, known: readonly string[]): string[] {
  const present = Object.keys(record).filter((key) => record[key] !== undefined && typeof record[key] !== 'function');
  const first = known.filter((key) => present.includes(key));
  const rest = present.filter((key) => !known.includes(key)).sort();
  return [...first, ...rest];
}
