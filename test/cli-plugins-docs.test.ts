import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkPackages, repositoryRoot } from './cli-plugins-fixture.js';

// Runs the plugin and the config of docs/custom-module.md, as written there, with the built command under
// plain Node.js in a folder whose node_modules links vlm-compat to this repository.
const built = existsSync(join(repositoryRoot, 'dist', 'cli', 'main.js'));
const heading = '## 5. Running a custom method from the CLI';

/** Returns the first fenced code block of `language` in the guide's section on plugins. */
function codeBlock(language: string): string {
  const guide = readFileSync(join(repositoryRoot, 'docs', 'custom-module.md'), 'utf8');
  const start = guide.indexOf(heading);
  if (start < 0) throw new Error(`docs/custom-module.md has no heading "${heading}"`);
  const section = guide.slice(start, guide.indexOf('\n## ', start + heading.length));
  const block = new RegExp('```' + language + '\\n([^]*?)```').exec(section)?.[1];
  if (block === undefined) throw new Error(`the section "${heading}" has no ${language} code block`);
  return block;
}

let folder: string;

/** Runs the vlm-compat command on the backend it picks itself (wasm when no TensorFlow binding is installed), as a user would. */
function command(...args: string[]) {
  const env = { ...process.env };
  delete env.VLM_COMPAT_BACKEND;
  return spawnSync(process.execPath, [join(repositoryRoot, 'bin', 'vlm-compat.mjs'), ...args], { cwd: folder, encoding: 'utf8', env, timeout: 120_000 });
}

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-compat-cli-plugins-docs-'));
  await linkPackages(folder);
  await writeFile(join(folder, 'residual-adapter.mjs'), codeBlock('js'));
  await writeFile(join(folder, 'vlm-compat.json'), codeBlock('json'));
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe.skipIf(!built)('custom-module guide plugin', () => {
  it('passes check', () => {
    const run = command('check', '--config', 'vlm-compat.json');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('plugin residual-adapter.mjs: registered methods residual-adapter');
  });

  it('evaluates both modules', async () => {
    const run = command('evaluate', '--config', 'vlm-compat.json');
    expect(run.status).toBe(0);
    const results = JSON.parse(await readFile(join(folder, 'out', 'residual-adapter', 'results.json'), 'utf8'));
    expect(results.cells.map((cell: { status: string }) => cell.status)).toEqual(['ok', 'ok']);
  });

  it('rejects the ratio the guide shows', async () => {
    const config = JSON.parse(codeBlock('json'));
    config.modules[0].options.ratio = 2;
    await writeFile(join(folder, 'bad-ratio.json'), JSON.stringify(config));
    const run = command('check', '--config', 'bad-ratio.json');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('modules.0.options.ratio: got 2, expected a number from 0 to 1');
  });
});
