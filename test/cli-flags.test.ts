import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArguments, UsageError } from '../src/cli/args.js';
import { runCli } from './fixtures/cli.js';

const run = runCli;

const syntax = {
  demo: { values: ['out', 'backend'], switches: ['quick'] },
  evaluate: { values: ['config', 'shard'] },
  merge: { values: ['out'], positional: true },
};

/** Returns the message of the UsageError that parsing `argv` raises. */
function usageMessage(...argv: string[]): string {
  try {
    parseArguments(argv, syntax);
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error(`${argv.join(' ')} parsed without a usage error`);
}

describe('parseArguments', () => {
  it('reads flags, switches and positional arguments', () => {
    const parsed = parseArguments(['merge', '--out', 'o', 'a', 'b'], syntax);
    expect([...parsed.flags]).toEqual([['out', 'o']]);
    expect(parsed.positional).toEqual(['a', 'b']);
  });

  it('reads inline values', () => {
    expect(parseArguments(['evaluate', '--config=c.json'], syntax).flags.get('config')).toBe('c.json');
  });

  it('finds the command after a flag', () => {
    expect(parseArguments(['--config', 'c.json', 'evaluate'], syntax).command).toBe('evaluate');
  });

  it('suggests the closest flag', () => {
    expect(usageMessage('evaluate', '--config', 'c.json', '--shards', '1/2')).toBe('unknown flag --shards for evaluate; did you mean --shard?');
  });

  it('lists the flags without a close one', () => {
    expect(usageMessage('evaluate', '--verbose')).toBe('unknown flag --verbose for evaluate; evaluate takes --config, --shard, --help, --version');
  });

  it('reports every unknown flag', () => {
    expect(usageMessage('evaluate', '--confg', 'c.json', '--shards', '1/2').split('\n')).toHaveLength(2);
  });

  it('reports an unknown switch before values', () => {
    expect(usageMessage('demo', '--quik')).toBe('unknown flag --quik for demo; did you mean --quick?');
  });

  it('rejects a flag of another command', () => {
    expect(usageMessage('demo', '--config', 'c.json')).toMatch(/^unknown flag --config for demo/);
  });

  it('rejects a value for a switch', () => {
    expect(usageMessage('demo', '--quick=yes')).toBe('--quick takes no value; remove "=yes"');
  });

  it('rejects a repeated flag', () => {
    expect(usageMessage('evaluate', '--shard', '1/2', '--shard', '2/2')).toBe('--shard is given twice; give it once');
  });

  it('rejects a flag without its value', () => {
    expect(usageMessage('evaluate', '--config')).toBe('--config needs a value, e.g. --config VALUE');
  });

  it('rejects a stray argument', () => {
    expect(usageMessage('evaluate', 'c.json')).toBe('unexpected argument "c.json" for evaluate; evaluate takes only the flags --config, --shard, --help, --version');
  });

  it('suggests a flag for a bare word', () => {
    expect(usageMessage('demo', 'quick')).toBe('unexpected argument "quick" for demo; did you mean --quick?');
  });

  it('suggests the closest command', () => {
    expect(usageMessage('evaluat')).toMatch(/^unknown command "evaluat"; did you mean evaluate\?/);
  });
});

let folder: string;
let configPath: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-compat-cli-flags-'));
  configPath = join(folder, 'c.json');
  await writeFile(configPath, JSON.stringify({ source: 'mini-clip-v1', target: 'mini-clip-v2', datasets: [{ name: 'x', format: 'coop', root: 'absent' }], modules: [{ method: 'coop' }], output: 'out' }));
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('vlm-compat flags', () => {
  it('rejects --shards for evaluate', async () => {
    const result = await run('evaluate', '--config', configPath, '--shards', '1/2');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown flag --shards for evaluate; did you mean --shard?');
  });

  it('rejects a flag before reading the config', async () => {
    const result = await run('evaluate', '--config', join(folder, 'absent.json'), '--shards', '1/2');
    expect(result.stderr).not.toContain('absent.json');
  });

  it('rejects --lnag for report', async () => {
    const result = await run('report', '--results', join(folder, 'results.json'), '--lnag', 'ja');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown flag --lnag for report; did you mean --lang?');
  });

  it('reports --quik as unknown', async () => {
    const result = await run('demo', '--quik');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown flag --quik for demo; did you mean --quick?');
    expect(result.stderr).not.toContain('needs a value');
  });

  it('points to the usage', async () => {
    const result = await run('demo', '--quik');
    expect(result.stderr).toContain('Run vlm-compat help for usage.');
  });

  for (const command of [['check', '--config'], ['evaluate', '--config'], ['demo', '--out']]) {
    it(`rejects --backend gpu for ${command[0]}`, async () => {
      const result = await run(...(command as [string, string]), configPath, '--backend', 'gpu');
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--backend must be one of tensorflow-gpu, tensorflow, wasm, cpu, got "gpu"');
    });
  }

  it('points --backend gpu to the GPU build', async () => {
    const result = await run('check', '--config', configPath, '--backend', 'gpu');
    expect(result.stderr).toContain('got "gpu"; did you mean tensorflow-gpu?');
  });

  it('names the closest backend', async () => {
    const result = await run('check', '--config', configPath, '--backend', 'wsam');
    expect(result.stderr).toContain('got "wsam"; did you mean wasm?');
  });

  it('names the closest language', async () => {
    const result = await run('report', '--results', join(folder, 'absent'), '--lang', 'jp');
    expect(result.stderr).toContain('--lang must be en or ja, got "jp"; did you mean ja?');
  });

  it('suggests no language for fr', async () => {
    const result = await run('report', '--results', join(folder, 'absent'), '--lang', 'fr');
    expect(result.stderr).not.toContain('did you mean');
  });

  for (const command of [['evaluate', '--config'], ['report', '--results'], ['merge', '--out']]) {
    it(`rejects --lang fr for ${command[0]} before reading`, async () => {
      const result = await run(...(command as [string, string]), join(folder, 'absent'), '--lang', 'fr', ...(command[0] === 'merge' ? [join(folder, 'absent-shard')] : []));
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--lang must be en or ja, got "fr"');
    });
  }

  it('rejects --plugins with --config', async () => {
    const result = await run('check', '--config', configPath, '--plugins', 'p.mjs');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('check --config does not take --plugins');
  });

  it('takes shard folders for merge', async () => {
    const result = await run('merge', '--out', join(folder, 'merged'), join(folder, 'shard-1'));
    expect(result.stderr).not.toContain('unexpected argument');
  });
});
