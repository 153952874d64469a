import { describe, expect, test } from 'vitest';
import type { ResultsFile } from '../src/pipeline/results.js';
import { renderJson, validateResults } from '../src/report/index.js';
import { sampleResults } from './fixtures/sample-results.js';

/** Returns a deep copy of `value` whose object keys are in reverse order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).reverse().map(([key, item]) => [key, reverseKeys(item)]));
  }
  return value;
}

describe('renderJson', () => {
  const json = renderJson(sampleResults);
  const parsed = JSON.parse(json);

  test('reads back equal', () => {
    expect(validateResults(parsed)).toEqual(sampleResults);
  });

  test('same text for any key order', () => {
    expect(renderJson(reverseKeys(sampleResults) as ResultsFile)).toBe(json);
  });

  test('top-level keys in schema order', () => {
    expect(Object.keys(parsed)).toEqual(['schema', 'schemaVersion', 'libraryVersion', 'createdAt', 'source', 'target', 'settings', 'cells']);
  });

  test('cell keys in schema order', () => {
    expect(Object.keys(parsed.cells[0])).toEqual([
      'key',
      'status',
      'kind',
      'depth',
      'classNames',
      'labels',
      'conditions',
      'metrics',
      'perClass',
      'cost',
      'decision',
      'mismatches',
    ]);
    expect(Object.keys(parsed.cells[0].conditions)).toEqual(['source-module', 'target-zero-shot', 'target-transplanted', 'target-retrained']);
    expect(Object.keys(parsed.cells[0].cost.train)).toEqual(['seconds', 'examplesSeen', 'steps', 'epochs', 'trainableParameters', 'backend', 'finalLoss']);
  });

  test('unknown keys sorted', () => {
    expect(Object.keys(parsed.settings)).toEqual(['bootstrapSamples', 'datasets', 'decision', 'methods', 'seeds', 'shots']);
  });

  test('metric interval after value', () => {
    const metric = parsed.cells.find((cell: any) => cell.key.dataset === 'oxford-pets').metrics[0];
    expect(Object.keys(metric)).toEqual(['name', 'value', 'unit', 'direction', 'interval']);
  });

  test('NaN written as null', () => {
    const failed = parsed.cells.find((cell: any) => cell.status === 'failed');
    expect(failed.cost.train.finalLoss).toBeNull();
  });

  test('number arrays on one line', () => {
    expect(json).toContain('"labels": [0, 0, 0, 0, 0, 0, 0, 0, 1, 1,');
  });

  test('ends with a newline', () => {
    expect(json.endsWith('}\n')).toBe(true);
  });
});
