import { describe, expect, test } from 'vitest';
import { validateResults } from '../src/report/index.js';
import { sampleResultsJson } from './fixtures/sample-results.js';
import { validationError } from './fixtures/validation.js';

/** Returns the sample as parsed JSON with one change made by `edit`. */
function editedSample(edit: (json: any) => void): Record<string, unknown> {
  const json = sampleResultsJson();
  edit(json);
  return json;
}

describe('validateResults', () => {
  test('accepts the sample', () => {
    const results = validateResults(sampleResultsJson());
    expect(results.cells).toHaveLength(16);
  });

  test('reads null numbers as NaN', () => {
    const results = validateResults(sampleResultsJson());
    const failed = results.cells.find((cell) => cell.status === 'failed');
    expect(Number.isNaN(failed?.cost.train.finalLoss)).toBe(true);
    const recovery = results.cells.find((cell) => cell.key.dataset === 'oxford-pets')?.metrics.find((metric) => metric.name === 'recovery');
    expect(Number.isNaN(recovery?.value)).toBe(true);
  });

  test('rejects another schemaVersion', () => {
    const error = validationError(editedSample((json) => (json.schemaVersion = 2)));
    expect(error?.message).toContain('schemaVersion is 2');
    expect(error?.message).toContain('reads only schemaVersion 1');
    expect(error?.issues[0]?.path).toBe('schemaVersion');
  });

  test('rejects another schema name', () => {
    const error = validationError(editedSample((json) => (json.schema = 'something-else')));
    expect(error?.message).toContain('schema is "something-else"');
  });

  test('rejects a non-object', () => {
    const error = validationError([1, 2]);
    expect(error?.message).toContain('must be a JSON object');
  });

  test('names path, value and type', () => {
    const error = validationError(editedSample((json) => (json.cells[2].metrics[5].value = '0.2')));
    expect(error?.issues).toHaveLength(1);
    expect(error?.issues[0]?.path).toBe('cells[2].metrics[5].value');
    expect(error?.message).toContain('cells[2].metrics[5].value is "0.2" (expected number (null for NaN))');
  });

  test('names a missing field', () => {
    const error = validationError(editedSample((json) => delete json.cells[0].key.method));
    expect(error?.message).toContain('cells[0].key.method is missing (expected string)');
  });

  test('names a field of a record by key', () => {
    const error = validationError(editedSample((json) => (json.cells[0].conditions['target-zero-shot'].accuracy = 62.5)));
    expect(error?.message).toContain('cells[0].conditions["target-zero-shot"].accuracy is 62.5 (expected fraction 0..1 (null for NaN))');
  });

  test('rejects an unknown status', () => {
    const error = validationError(editedSample((json) => (json.cells[1].status = 'skipped')));
    expect(error?.issues[0]?.path).toBe('cells[1].status');
    expect(error?.issues[0]?.expected).toBe('"ok" | "incompatible" | "failed"');
  });

  test('lists every invalid field', () => {
    const error = validationError(
      editedSample((json) => {
        json.createdAt = 5;
        json.target.dims.embedDim = -1;
      }),
    );
    expect(error?.issues.map((issue) => issue.path)).toEqual(['createdAt', 'target.dims.embedDim']);
  });

  test('keeps unknown extra fields', () => {
    const results = validateResults(editedSample((json) => (json.cells[0].comment = 'rerun on Tuesday')));
    expect((results.cells[0] as unknown as Record<string, unknown>).comment).toBe('rerun on Tuesday');
  });
});
