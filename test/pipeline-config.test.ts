import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeEvaluateConfig, resolvePluginPaths } from '../src/pipeline/config.js';
import { minimalConfig } from './fixtures/config.js';

const base = minimalConfig;

describe('decodeEvaluateConfig', () => {
  it('rejects a repeated method', () => {
    const config = { ...base, modules: [{ method: 'coop' }, { method: 'clip-adapter' }, { method: 'coop', training: { epochs: 1 } }] };
    expect(() => decodeEvaluateConfig(config, 'c.json')).toThrow(/the method "coop" is listed twice/);
  });

  it('rejects a repeated data set name', () => {
    const config = { ...base, datasets: [base.datasets[0], base.datasets[0]] };
    expect(() => decodeEvaluateConfig(config, 'c.json')).toThrow(/the name "tiny" is used twice/);
  });

  it('accepts distinct methods', () => {
    expect(decodeEvaluateConfig({ ...base, modules: [{ method: 'coop' }, { method: 'clip-adapter' }] }, 'c.json').modules).toHaveLength(2);
  });

  it('rejects a misspelt field', () => {
    expect(() => decodeEvaluateConfig({ ...base, forcast: true }, 'c.json')).toThrow(/forcast: Unknown config field "forcast". Did you mean "forecast"\?/);
  });

  it('rejects an unknown module field', () => {
    expect(() => decodeEvaluateConfig({ ...base, modules: [{ method: 'coop', trainig: { epochs: 1 } }] }, 'c.json')).toThrow(/modules\.0\.trainig/);
  });

  it('points the bridged wrapper to migrate', () => {
    expect(() => decodeEvaluateConfig({ ...base, modules: [{ method: 'bridged' }] }, 'c.json')).toThrow(/add "migrate": \["bridge"\]/);
  });

  it('rejects an invalid option value', () => {
    const config = { ...base, modules: [{ method: 'clip-adapter', options: { reduction: 1.5 } }] };
    expect(() => decodeEvaluateConfig(config, 'c.json')).toThrow(/modules\.0\.options\.reduction: got 1\.5, expected a positive integer/);
  });

  it('rejects a misspelt option', () => {
    const config = { ...base, modules: [{ method: 'clip-adapter', options: { reducton: 2 } }] };
    expect(() => decodeEvaluateConfig(config, 'c.json')).toThrow(/modules\.0\.options\.reducton: Unknown clip-adapter option "reducton"\. Did you mean "reduction"\?/);
  });

  it('lists the problems of every module', () => {
    const config = { ...base, modules: [{ method: 'coop', options: { nCtx: 4 } }, { method: 'clip-adapter', options: { residualRatio: 2 } }] };
    expect(() => decodeEvaluateConfig(config, 'c.json')).toThrow(/modules\.0\.options\.nCtx[^]*modules\.1\.options\.residualRatio/);
  });

  it('keeps valid options', () => {
    const options = { reduction: 2, residualRatio: 0.5 };
    expect(decodeEvaluateConfig({ ...base, modules: [{ method: 'clip-adapter', options }] }, 'c.json').modules[0]?.options).toEqual(options);
  });

  it('hints registerMethod for an unknown method', () => {
    expect(() => decodeEvaluateConfig({ ...base, modules: [{ method: 'residual-gate' }] }, 'c.json')).toThrow(/\nRegister a custom method with registerMethod/);
  });

  it('notes that plugins are not imported', () => {
    const config = { ...base, plugins: ['p.mjs'], modules: [{ method: 'my-adapter' }] };
    expect(() => decodeEvaluateConfig(config, 'c.json')).toThrow(/does not import the files in "plugins"/);
  });

  it('lists the loaded plugins for an unknown method', () => {
    const config = { ...base, plugins: ['p.mjs'], modules: [{ method: 'my-adapter' }] };
    expect(() => decodeEvaluateConfig(config, 'c.json', { loadedPlugins: ['p.mjs (registered methods other)'] })).toThrow(/Plugins loaded: p\.mjs \(registered methods other\)\./);
  });

  it('resolves plugin paths against the config folder', () => {
    const config = decodeEvaluateConfig({ ...base, plugins: ['p.mjs', '/abs/q.mjs'] }, '/configs/c.json');
    expect(config.plugins).toEqual([resolve('/configs/p.mjs'), resolve('/abs/q.mjs')]);
  });
});

describe('resolvePluginPaths', () => {
  it('keeps each entry with its path', () => {
    expect(resolvePluginPaths({ plugins: ['lib/p.mjs'] }, '/configs/c.json')).toEqual([{ entry: 'lib/p.mjs', path: resolve('/configs/lib/p.mjs') }]);
  });

  it('returns nothing without plugins', () => {
    expect(resolvePluginPaths(base, 'c.json')).toEqual([]);
  });

  it('rejects a plugins string', () => {
    expect(() => resolvePluginPaths({ plugins: 'p.mjs' }, 'c.json')).toThrow(/plugins: got "p\.mjs", expected a list of strings/);
  });
});
