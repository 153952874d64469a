import { describe, expect, it } from 'vitest';
import { decodeEvaluateConfig } from '../src/pipeline/config.js';

const base = {
  source: 'mini-clip-v1',
  target: 'mini-clip-v2',
  datasets: [{ name: 'tiny', format: 'coop', root: 'tiny' }],
  modules: [{ method: 'coop' }],
  output: 'out',
};

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
});
