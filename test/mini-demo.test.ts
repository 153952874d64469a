import { describe, expect, it } from 'vitest';
import { getMethod, methodNames } from '../src/adapters/registry.js';
import { demoConfig, demoMethods, demoOptions, demoTraining } from '../src/cli/demo.js';
import { decodeEvaluateConfig } from '../src/pipeline/config.js';

const full = demoConfig({ quick: false, out: 'demo-out', seeds: [1] });
const quick = demoConfig({ quick: true, out: 'demo-out', seeds: [1] });

describe('demo config', () => {
  it('full run decodes', () => {
    expect(() => decodeEvaluateConfig(full, 'demo.json')).not.toThrow();
  });

  it('quick run decodes', () => {
    expect(() => decodeEvaluateConfig(quick, 'demo.json')).not.toThrow();
  });

  it('full run has every trainable module', () => {
    expect((full.modules as Array<{ method: string }>).map((m) => m.method)).toEqual(demoMethods());
  });

  it('leaves out the bridged wrapper', () => {
    expect(demoMethods()).not.toContain('bridged');
  });

  it('keeps all other methods', () => {
    expect(demoMethods()).toHaveLength(methodNames().filter((m) => m !== 'bridged').length);
  });

  it('full run has three tasks', () => {
    expect(full.datasets).toHaveLength(3);
  });

  it('quick run has one task', () => {
    expect(quick.datasets).toHaveLength(1);
  });

  it('moves mini-clip-v1 to mini-clip-v2', () => {
    expect([full.source, full.target]).toEqual(['mini-clip-v1', 'mini-clip-v2']);
  });
});

describe('demoTraining', () => {
  for (const method of methodNames()) {
    it(`${method} epochs within default`, () => {
      expect(demoTraining(method, false).epochs).toBeLessThanOrEqual(getMethod(method).training.epochs);
    });

    it(`${method} rate boost at most 10x`, () => {
      const { learningRate } = demoTraining(method, false);
      expect(learningRate ?? 0).toBeLessThanOrEqual(10 * getMethod(method).training.learningRate);
    });
  }

  it('quick never trains longer', () => {
    expect(demoTraining('coop', true).epochs).toBeLessThanOrEqual(demoTraining('coop', false).epochs);
  });

  it('cocoop trains one epoch', () => {
    expect(demoTraining('cocoop', false).epochs).toBe(1);
  });

  it('training-free methods keep zero epochs', () => {
    expect(demoTraining('tip-adapter', false).epochs).toBe(0);
  });
});

describe('demoOptions', () => {
  it('defaults the output folder', () => {
    expect(demoOptions(new Map()).out).toBe('vlm-compat-demo');
  });

  it('reads seeds', () => {
    expect(demoOptions(new Map([['seeds', '1,2']])).seeds).toEqual([1, 2]);
  });

  it('rejects non-integer seeds', () => {
    expect(() => demoOptions(new Map([['seeds', '1,x']]))).toThrow(/--seeds must be integers/);
  });

  it('reads --quick', () => {
    expect(demoOptions(new Map([['quick', true]])).quick).toBe(true);
  });

  it('bridges by default', () => {
    expect(demoOptions(new Map()).migrate).toEqual(['bridge']);
  });

  it('reads --migrate', () => {
    expect(demoOptions(new Map([['migrate', 'bridge,distill']])).migrate).toEqual(['bridge', 'distill']);
  });

  it('reads --migrate none', () => {
    expect(demoOptions(new Map([['migrate', 'none']])).migrate).toEqual([]);
  });

  it('names an unknown migration', () => {
    expect(() => demoOptions(new Map([['migrate', 'bridge,align']]))).toThrow(/--migrate takes bridge, distill .* got "bridge,align"/);
  });
});

describe('demo label-free settings', () => {
  it('forecasts every cell', () => {
    expect(full.forecast).toBe(true);
  });

  it('reads the unlabeled training pool', () => {
    expect(full.unlabeled).toBe('train-split');
  });

  it('bridges unless told otherwise', () => {
    expect(full.migrate).toEqual(['bridge']);
  });

  it('leaves migrations out with none', () => {
    expect(demoConfig({ quick: true, out: 'x', seeds: [1], migrate: [] }).migrate).toBeUndefined();
  });
});
