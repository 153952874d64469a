import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, writeTinyWorkspace } from './fixtures/cli.js';

const run = runCli;

let folder: string;
let configPath: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-compat-cli-'));
  await writeTinyWorkspace(folder);
  configPath = join(folder, 'config.json');
  await writeFile(
    configPath,
    JSON.stringify({
      source: { folder: 'source' },
      target: { folder: 'target' },
      datasets: [{ name: 'tiny', format: 'coop', root: 'tiny' }],
      modules: [{ method: 'clip-lora', training: { epochs: 2, batchSize: 4 } }, { method: 'vpt-deep', training: { epochs: 2 } }],
      shots: [2],
      seeds: [1],
      bootstrap: 20,
      backend: 'cpu',
      prices: { computePerHour: 3, perLabelledExample: 0.5 },
      tolerance: { kind: 'max-drop', points: 5, relativeTo: 'source-module' },
      output: 'out',
    }),
  );
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('vlm-compat evaluate', () => {
  it('runs the matrix and writes the reports', async () => {
    const result = await run('evaluate', '--config', configPath);
    expect(result.stderr).toMatch(/\[2\/2\] tiny\/vpt-deep\/2-shot\/seed 1: ok/);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('| method |');
    const results = JSON.parse(await readFile(join(folder, 'out', 'results.json'), 'utf8'));
    expect(results.cells).toHaveLength(2);
    expect(await readFile(join(folder, 'out', 'report.html'), 'utf8')).toContain('<svg');
  });

  it('resumes without redoing finished cells', async () => {
    const result = await run('evaluate', '--config', configPath);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/\[1\/2\] tiny\/clip-lora\/2-shot\/seed 1: skipped/);
  });

  it('renders the report again in Japanese', async () => {
    const result = await run('report', '--results', join(folder, 'out', 'results.json'), '--lang', 'ja', '--out', join(folder, 'ja'));
    expect(result.code).toBe(0);
    expect(await readFile(join(folder, 'ja', 'report.md'), 'utf8')).toContain('clip-lora');
  });
});

describe('vlm-compat errors', () => {
  it('names an invalid config field and value', async () => {
    const bad = join(folder, 'bad.json');
    await writeFile(bad, JSON.stringify({ source: 'a', target: 'b', datasets: [{ name: 'x', format: 'coco', root: '.' }], modules: [{ method: 'coop' }], output: 'o' }));
    const result = await run('evaluate', '--config', bad);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/datasets\.0\.format: got "coco", expected "coop" or "imagefolder"/);
  });

  it('suggests the closest method name', async () => {
    const bad = join(folder, 'typo.json');
    await writeFile(bad, JSON.stringify({ source: 'a', target: 'b', datasets: [{ name: 'x', format: 'coop', root: '.' }], modules: [{ method: 'clip-lorra' }], output: 'o' }));
    const result = await run('check', '--config', bad);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/modules\.0\.method: Unknown tuning method "clip-lorra"\. Did you mean "clip-lora"\?/);
  });

  it('rejects a malformed config file', async () => {
    const bad = join(folder, 'broken.json');
    await writeFile(bad, '{"source": ');
    const result = await run('evaluate', '--config', bad);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/broken\.json is not valid JSON/);
  });

  it('says how to rebuild a cut-short results file', async () => {
    const bad = join(folder, 'results-cut.json');
    await writeFile(bad, '{"schema": "vlm-compat-results", "cells": [');
    const result = await run('report', '--results', bad);
    expect(result.stderr).toMatch(/results-cut\.json is not valid JSON \(.*\); if a run was cut short, run evaluate again with the same config/);
  });

  it('rejects an invalid shard as a usage error', async () => {
    const result = await run('evaluate', '--config', configPath, '--shard', '3/2');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Invalid shard "3\/2"/);
  });

  it('rejects an unknown command', async () => {
    const result = await run('evaluat');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown command "evaluat"/);
  });

  it('checks a config without training', async () => {
    const result = await run('check', '--config', configPath);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/target: clip target .*embed 16/);
  });
});

describe('vlm-compat --version', () => {
  it('prints the version', async () => {
    const result = await run('--version');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
