import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { activeBackend, BackendUnavailableError, createLogger, initBackend } from '../src/runtime/index.js';
import { version } from '../src/version.js';
import packageJson from '../package.json' with { type: 'json' };

describe('backend selection', () => {
  it('names the package of a requested backend that is not installed', async () => {
    await expect(initBackend({ backend: 'tensorflow' })).rejects.toThrow(/Install @tensorflow\/tfjs-node /);
    expect(activeBackend()).toBeUndefined();
  });

  it('lists the valid backends for an unknown name', async () => {
    process.env.VLM_COMPAT_BACKEND = 'cuda';
    await expect(initBackend()).rejects.toThrow(BackendUnavailableError);
    await expect(initBackend()).rejects.toThrow(/Unknown backend "cuda".*tensorflow-gpu, tensorflow, wasm, cpu/);
    delete process.env.VLM_COMPAT_BACKEND;
  });

  it('takes the backend from VLM_COMPAT_BACKEND and logs the choice', async () => {
    process.env.VLM_COMPAT_BACKEND = 'cpu';
    const lines: string[] = [];
    const selection = await initBackend({ logger: createLogger('info', (line) => lines.push(line)) });
    delete process.env.VLM_COMPAT_BACKEND;
    expect(selection.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(lines.join('\n')).toMatch(/tensor backend: cpu \(requested\)/);
  });

  it('refuses to switch once a backend is active', async () => {
    await expect(initBackend({ backend: 'wasm' })).rejects.toThrow(/"cpu" is already active/);
  });
});

describe('version', () => {
  it('matches package.json', () => {
    expect(version).toBe(packageJson.version);
  });
});
