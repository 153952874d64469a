import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, decodeEvaluateConfig } from '../src/pipeline/config.js';
import { minimalConfig } from './fixtures/config.js';

const base = minimalConfig;

/** Returns the problems of the ConfigError that decoding `config` raises, or [] when it decodes. */
function problemsOf(config: unknown): readonly string[] {
  try {
    decodeEvaluateConfig(config, 'c.json');
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe('nested unknown fields', () => {
  // Each misspelling below was once ignored in silence, so the run took the field's default.
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['training epochs', { modules: [{ method: 'coop', training: { epoch: 3 } }] }, 'modules.0.training.epoch: Unknown training field "epoch". Did you mean "epochs"?'],
    ['training learning rate', { modules: [{ method: 'coop', training: { learningrate: 0.1 } }] }, 'modules.0.training.learningrate: Unknown training field "learningrate". Did you mean "learningRate"?'],
    ['US spelling of a price', { prices: { perLabeledExample: 10 } }, 'prices.perLabeledExample: Unknown prices field "perLabeledExample". Did you mean "perLabelledExample"?'],
    ['migration images', { migration: { maxImage: 64 } }, 'migration.maxImage: Unknown migration field "maxImage". Did you mean "maxImages"?'],
    ['forecast images', { forecast: { maxImage: 64 } }, 'forecast.maxImage: Unknown forecast field "maxImage". Did you mean "maxImages"?'],
    ['min-accuracy points', { tolerance: { kind: 'min-accuracy', point: 80 } }, 'tolerance.point: Unknown tolerance field "point". Did you mean "points"?'],
    ['max-drop reference', { tolerance: { kind: 'max-drop', points: 5, relativeto: 'source-module' } }, 'tolerance.relativeto: Unknown tolerance field "relativeto". Did you mean "relativeTo"?'],
    ['unlabeled extensions', { unlabeled: { folder: 'u', extension: ['.png'] } }, 'unlabeled.extension: Unknown unlabeled field "extension". Did you mean "extensions"?'],
    ['backbone folder', { source: { fodler: 'models/a' } }, 'source.fodler: Unknown source field "fodler". Did you mean "folder"?'],
    ['data set split file', { datasets: [{ name: 'tiny', format: 'coop', root: 'tiny', splitfile: 's.json' }] }, 'datasets.0.splitfile: Unknown data set field "splitfile". Did you mean "splitFile"?'],
  ];

  for (const [name, fields, expected] of cases) {
    it(`rejects a misspelt ${name}`, () => {
      const problems = problemsOf({ ...base, ...fields });
      expect(problems.some((problem) => problem.startsWith(expected))).toBe(true);
    });
  }

  it('checks a tolerance against its kind', () => {
    // relativeTo belongs to the max-drop variant only, so a min-accuracy tolerance must not take it.
    const problems = problemsOf({ ...base, tolerance: { kind: 'min-accuracy', points: 80, relativeTo: 'source-module' } });
    expect(problems).toEqual(['tolerance.relativeTo: Unknown tolerance field "relativeTo". Valid names: kind, points.']);
  });

  it('lists the fields of the training object', () => {
    const problems = problemsOf({ ...base, modules: [{ method: 'coop', training: { epoch: 3 } }] });
    expect(problems[0]).toMatch(/Valid names: batchSize, epochs, learningRate, momentum, optimizer, views, warmupEpochs, warmupLearningRate, weightDecay\.$/);
  });

  it('rejects a misspelt option at depth', () => {
    const problems = problemsOf({ ...base, modules: [{ method: 'clip-adapter', options: { reducton: 2 } }] });
    expect(problems).toEqual(['modules.0.options.reducton: Unknown clip-adapter option "reducton". Did you mean "reduction"? Valid names: reduction, residualRatio.']);
  });

  it('keeps a forecast switch', () => {
    expect(decodeEvaluateConfig({ ...base, forecast: true }, 'c.json').forecast).toBe(true);
  });

  it('keeps nested valid fields', () => {
    const prices = { currency: '€', perLabelledExample: 0.5 };
    expect(decodeEvaluateConfig({ ...base, prices }, 'c.json').prices).toEqual(prices);
  });

  it('accepts the documented example', () => {
    const guide = readFileSync(join(__dirname, '..', 'docs', 'config.md'), 'utf8');
    const example = /## Complete example\s+```json\n([^]*?)```/.exec(guide)?.[1];
    expect(example).toBeDefined();
    expect(problemsOf(JSON.parse(example as string))).toEqual([]);
  });
});
