import * as t from 'io-ts';
import { describe, expect, it } from 'vitest';
import '../src/migrate/index.js';
import { getMethod, methodNames, registerMethod, UnknownMethodError } from '../src/adapters/registry.js';
import { ConfigError, decodeEvaluateConfig } from '../src/pipeline/config.js';
import { minimalConfig } from './fixtures/config.js';

const base = minimalConfig;

/** Returns the ConfigError that decoding `config` raises; fails the test when it decodes. */
function configError(config: unknown, options: Parameters<typeof decodeEvaluateConfig>[2] = {}): ConfigError {
  try {
    decodeEvaluateConfig(config, 'c.json', options);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('the config decoded without a problem');
}

/** A config with six mistakes of four kinds: unknown names, wrong types, an unknown method and an invalid option. */
const sixMistakes = {
  ...base,
  datasets: [{ name: 'tiny', format: 'folders', root: 'tiny' }],
  modules: [
    { method: 'clip-adaptor' },
    { method: 'clip-adapter', options: { residualRatio: 2 } },
    { method: 'coop', training: { epoch: 3 } },
  ],
  shots: [0],
  forcast: true,
};

describe('problems at once', () => {
  const expected = [
    'datasets.0.format: got "folders"',
    'modules.0.method: Unknown tuning method "clip-adaptor"',
    'modules.1.options.residualRatio: got 2',
    'modules.2.training.epoch: Unknown training field',
    'shots.0: got 0',
    'forcast: Unknown config field',
  ];

  for (const start of expected) {
    it(`lists ${start.split(':')[0]}`, () => {
      expect(configError(sixMistakes).problems.some((problem) => problem.startsWith(start))).toBe(true);
    });
  }

  it('lists nothing else', () => {
    expect(configError(sixMistakes).problems).toHaveLength(expected.length);
  });

  it('lists problems in file order', () => {
    const paths = configError(sixMistakes).problems.map((problem) => problem.split(':')[0]);
    expect(paths).toEqual(['datasets.0.format', 'modules.0.method', 'modules.1.options.residualRatio', 'modules.2.training.epoch', 'shots.0', 'forcast']);
  });

  it('checks modules when another field is invalid', () => {
    const error = configError({ ...base, output: 3, modules: [{ method: 'clip-adapter', options: { reducton: 2 } }] });
    expect(error.problems).toHaveLength(2);
  });

  it('reports an empty and a repeated list together', () => {
    const error = configError({ ...base, modules: [], datasets: [base.datasets[0], base.datasets[0]] });
    expect(error.problems).toEqual(['datasets: the name "tiny" is used twice; names identify results', 'modules: got [], expected at least one module']);
  });
});

describe('expected value descriptions', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['positive integer', { shots: [0] }, 'shots.0: got 0, expected a positive integer'],
    ['list', { shots: 16 }, 'shots: got 16, expected a list of positive integers'],
    ['integer', { seeds: [1.5] }, 'seeds.0: got 1.5, expected an integer'],
    ['integer ≥ 0', { bootstrap: -1 }, 'bootstrap: got -1, expected an integer ≥ 0'],
    ['number ≥ 0', { compatibleTolerancePoints: -1 }, 'compatibleTolerancePoints: got -1, expected a number ≥ 0'],
    ['boolean', { retrain: 'yes' }, 'retrain: got "yes", expected true or false'],
    ['choice', { backend: 'gpu' }, 'backend: got "gpu", expected "tensorflow-gpu", "tensorflow", "wasm" or "cpu"'],
    ['missing field', { output: undefined }, 'output: missing, expected a string'],
    ['union kind', { tolerance: { kind: 'max-dropp', points: 5 } }, 'tolerance.kind: got "max-dropp", expected "min-accuracy" or "max-drop"'],
    ['union variant field', { tolerance: { kind: 'min-accuracy' } }, 'tolerance.points: missing, expected a number ≥ 0'],
    ['union value', { forecast: 'yes' }, 'forecast: got "yes", expected true, false or an object with "maxImages" or "maxClasses"'],
    ['module entry', { modules: ['coop'] }, 'modules.0: got "coop", expected an object with "method"'],
  ];

  for (const [name, fields, problem] of cases) {
    it(`describes a ${name}`, () => {
      expect(configError({ ...base, ...fields }).problems).toEqual([problem]);
    });
  }

  it('names no io-ts type', () => {
    const message = configError({ ...base, shots: [0], seeds: [0.5], bootstrap: -1, compatibleTolerancePoints: -1, plugins: 'p.mjs', tolerance: { kind: 'max-dropp' } }).message;
    expect(message).not.toMatch(/\bInt\b|Array<|NonNegative|PositiveInteger|Partial<| \| /);
  });
});

describe('option codecs with io-ts names', () => {
  // A method as a plugin might write it, with codecs that keep the names io-ts derives.
  registerMethod({
    ...getMethod('clip-adapter'),
    name: 'config-problems-options',
    defaults: {},
    configCodec: t.partial({
      sizes: t.array(t.number),
      ratios: t.array(t.refinement(t.number, (n) => n >= 0 && n <= 1, 'a number from 0 to 1')),
      size: t.union([t.number, t.literal('auto')]),
      schedule: t.partial({ steps: t.number }),
    }),
  });
  const problems = (options: Record<string, unknown>) => configError({ ...base, modules: [{ method: 'config-problems-options', options }] }).problems;

  it('describes a list of numbers', () => {
    expect(problems({ sizes: 3 })).toEqual(['modules.0.options.sizes: got 3, expected a list of numbers']);
  });

  it('describes a list of named values', () => {
    expect(problems({ ratios: [2] })).toEqual(['modules.0.options.ratios.0: got 2, expected a number from 0 to 1']);
  });

  it('describes a list of qualified values', () => {
    expect(problems({ ratios: 2 })).toEqual(['modules.0.options.ratios: got 2, expected a list of numbers from 0 to 1']);
  });

  it('describes an unnamed union', () => {
    expect(problems({ size: 'big' })).toEqual(['modules.0.options.size: got "big", expected a number or "auto"']);
  });

  it('rejects a nested option field', () => {
    expect(problems({ schedule: { stpes: 3 } })).toEqual(['modules.0.options.schedule.stpes: Unknown schedule field "stpes". Did you mean "steps"? Valid names: steps.']);
  });
});

describe('unknown method hint', () => {
  const message = (modules: unknown[], fields: Record<string, unknown> = {}, options = {}) => configError({ ...base, ...fields, modules }, options).message;

  it('gives a misspelt built-in only the suggestion', () => {
    expect(message([{ method: 'tip-adaptor' }]).split('\n')).toHaveLength(2);
  });

  it('hints registerMethod for a custom name', () => {
    expect(message([{ method: 'residual-gate' }])).toMatch(/\nRegister a custom method with registerMethod before decoding the config\.$/);
  });

  it('hints plugins to the command', () => {
    expect(message([{ method: 'residual-gate' }], {}, { loadedPlugins: [] })).toMatch(/\nTo use a custom method, list the file that registers it in the config's "plugins"\.$/);
  });

  it('keeps the ES module note out without plugins', () => {
    expect(message([{ method: 'residual-gate' }], {}, { loadedPlugins: [] })).not.toContain('ES modules');
  });

  it('hints at plugins for a custom-looking name near a built-in', () => {
    // residual-adapter is six edits from clip-adapter: a forgotten plugin, not a typo.
    expect(message([{ method: 'residual-adapter' }], {}, { loadedPlugins: [] })).toMatch(/list the file that registers it in the config's "plugins"\.$/);
  });

  it('adds the ES module note with plugins', () => {
    expect(message([{ method: 'tip-adaptor' }], { plugins: ['p.mjs'] }, { loadedPlugins: ['p.mjs (registered no new method or backbone)'] })).toContain('Plugins must be ES modules');
  });
});

describe('method names', () => {
  it('leave the bridged wrapper out', () => {
    expect(methodNames()).not.toContain('bridged');
  });

  it('still load the bridged wrapper', () => {
    expect(getMethod('bridged').name).toBe('bridged');
  });

  it('raise a typed error for an unknown name', () => {
    const error = (() => {
      try {
        return getMethod('class-bias');
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(UnknownMethodError);
  });

  it('list no wrapper for an unknown name', () => {
    expect(() => getMethod('class-bias')).toThrow(/Valid names: clip-adapter, [^\n]*vpt-deep\.$/);
  });

  it('list no wrapper in a config error', () => {
    expect(configError({ ...base, modules: [{ method: 'class-bias' }] }).problems[0]).not.toContain('bridged');
  });
});

describe('ConfigError', () => {
  it('indents the lines of a long problem', () => {
    expect(new ConfigError('c.json', ['datasets.0: first line\nsecond line']).message).toBe('c.json is not a valid vlm-compat config:\n  datasets.0: first line\n    second line');
  });
});
