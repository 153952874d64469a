// Runs the CLIP ViT-B/16 benchmark on every installed tensor backend and, when Python can import torch,
// the same computation in PyTorch. Prints a table on stdout and writes bench/results/latest.json.
// Usage: npm run bench [-- --repetitions N --backends wasm,cpu --cpu-prompts N --cpu-images N]
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as lib from 'vlm-compat';
import { formatReport, summarize } from './report.mjs';
import { classNames, contextStart, contextTokens, tokenizePrompts, vitB16Config } from './shared.mjs';

const benchFolder = dirname(fileURLToPath(import.meta.url));
const python = process.env.VLM_COMPAT_PYTHON ?? '/usr/bin/python3';

const { values: options } = parseArgs({
  options: {
    repetitions: { type: 'string', default: '3' },
    backends: { type: 'string' },
    // The cpu backend took 6 to 11 s per prompt (forward plus backward) and 45 to 70 s per image on the
    // 2-core machine in docs/benchmarks.md, so by default it runs on a reduced batch, once.
    'cpu-prompts': { type: 'string', default: '2' },
    'cpu-images': { type: 'string', default: '1' },
  },
});

/** Describes why `name` cannot run here, or returns undefined when its package resolves. */
function backendUnavailableReason(name) {
  try {
    createRequire(import.meta.url).resolve(lib.backendPackages[name]);
    return undefined;
  } catch {
    return `${lib.backendPackages[name]} is not installed`;
  }
}

/** Returns the backends to run and, for the others, why they were skipped. */
function chooseBackends() {
  const requested = options.backends?.split(',').map((name) => name.trim()) ?? lib.backendPreference;
  const unknown = requested.filter((name) => !lib.backendPreference.includes(name));
  if (unknown.length > 0) {
    throw new Error(`--backends lists unknown backend ${unknown.join(', ')}; valid backends: ${lib.backendPreference.join(', ')}`);
  }
  const run = [];
  const skipped = [];
  for (const name of requested) {
    const reason = backendUnavailableReason(name);
    if (reason === undefined) run.push(name);
    else skipped.push({ backend: name, reason });
  }
  return { run, skipped };
}

/** Returns the batch sizes, chunk sizes and repetitions that `backend` runs with. */
function workloadFor(backend) {
  const full = { prompts: String(classNames.length), images: '32', repetitions: options.repetitions, reduced: false, extraArgs: [] };
  switch (backend) {
    case 'wasm':
      // The wasm heap stops at 4 GB. A gradient pass keeps about 90 MB per prompt and encodeImage about
      // 500 MB per image until it returns, so both towers run in chunks (see bench/text-step.mjs).
      return { ...full, extraArgs: ['--text-chunk', '10', '--image-chunk', '2'] };
    case 'cpu':
      // Each cpu run takes from 5 s to a minute, which dwarfs what a first run spends on JIT compilation
      // (an estimate), and warm-ups would add about 1.5 minutes. So each measurement runs once, cold.
      return { prompts: options['cpu-prompts'], images: options['cpu-images'], repetitions: '1', reduced: true, extraArgs: ['--skip-warm-up'] };
    default:
      return full;
  }
}

/** Runs bench/clip.mjs for one backend in its own process and returns its parsed result. */
function runBackend(backend) {
  const workload = workloadFor(backend);
  const args = ['--backend', backend, '--prompts', workload.prompts, '--images', workload.images, '--repetitions', workload.repetitions, ...workload.extraArgs];
  // The matMul comparison runs at the full text batch, which the cpu backend would take minutes for.
  if (backend !== 'cpu') args.push('--matmul');
  process.stderr.write(`bench: ${backend} (${workload.prompts} prompts, ${workload.images} images, ${workload.repetitions} timed repetitions)\n`);

  const child = spawnSync(process.execPath, [join(benchFolder, 'clip.mjs'), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  // tfjs prints a banner on stdout under the cpu backend, so the result is the line that starts like one.
  const line = child.stdout.split('\n').find((text) => text.startsWith('{"backend"'));
  if (child.status !== 0 || line === undefined) {
    return { backend, reduced: workload.reduced, error: `bench/clip.mjs exited with status ${child.status}; its error output is above` };
  }
  return { ...JSON.parse(line), reduced: workload.reduced };
}

/** Describes why PyTorch cannot be used, or returns undefined when `python` imports it. */
function torchUnavailableReason() {
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error !== undefined) return `${python} was not found (${probe.error.message}); set VLM_COMPAT_PYTHON to a Python with torch`;
  if (probe.status !== 0) return `${python} cannot import torch; install it (Debian: apt-get install python3-torch) or set VLM_COMPAT_PYTHON`;
  return undefined;
}

/** Runs bench/clip_torch.py on the same prompts, token lengths and image count as one backend's result. */
function runTorch(prompts, images, repetitions) {
  const batch = tokenizePrompts(lib, prompts);
  const sequenceLength = Math.max(...batch.eot) + 1;
  const ids = Array.from({ length: batch.n }, (_, row) =>
    Array.from(batch.ids.subarray(row * batch.contextLength, row * batch.contextLength + sequenceLength)),
  );
  const request = {
    threads: os.availableParallelism(),
    repetitions,
    config: vitB16Config,
    images,
    text: { ids, eot: batch.eot, contextStart, contextTokens },
  };
  process.stderr.write(`bench: torch (${prompts} prompts, ${images} images, ${repetitions} timed repetitions)\n`);

  const child = spawnSync(python, [join(benchFolder, 'clip_torch.py')], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  if (child.status !== 0) return { error: `bench/clip_torch.py exited with status ${child.status}; its error output is above` };
  return JSON.parse(child.stdout);
}

function main() {
  const started = new Date();
  const loadBefore = os.loadavg()[0];
  const backends = chooseBackends();
  const results = backends.run.map(runBackend);

  const torchSkipped = torchUnavailableReason();
  const torch = [];
  if (torchSkipped === undefined) {
    const measured = results.filter((result) => result.error === undefined);
    const cases = new Map(measured.map((r) => [`${r.text.tokens.prompts}/${r.image.images}/${r.repetitions}`, r]));
    for (const r of cases.values()) {
      torch.push({ prompts: r.text.tokens.prompts, images: r.image.images, ...runTorch(r.text.tokens.prompts, r.image.images, r.repetitions) });
    }
  }

  const report = {
    date: started.toISOString(),
    machine: {
      cores: os.availableParallelism(),
      cpu: os.cpus()[0]?.model ?? 'unknown',
      platform: `${os.platform()} ${os.arch()}`,
      node: process.version,
      // Other processes on the machine slow every measurement. The 1-minute load average shows how busy it was.
      loadAverage: { start: loadBefore, end: os.loadavg()[0] },
    },
    durationSeconds: (Date.now() - started.getTime()) / 1000,
    vlmCompat: lib.version,
    model: { name: 'CLIP ViT-B/16 shapes, random weights (initClipCanonical, createRandom(0))', config: vitB16Config },
    prompt: { contextTokens, contextStart, mode: 'replace', template: `${'X '.repeat(contextTokens)}{classname}.` },
    backends: results,
    skippedBackends: backends.skipped,
    torch: torchSkipped === undefined ? { python, runs: torch } : { python, skipped: torchSkipped },
  };

  const summary = summarize(report);
  const resultsFolder = join(benchFolder, 'results');
  mkdirSync(resultsFolder, { recursive: true });
  writeFileSync(join(resultsFolder, 'latest.json'), JSON.stringify({ ...report, summary }, null, 2) + '\n');
  process.stdout.write(formatReport(report, summary) + `\nwritten: ${join('bench', 'results', 'latest.json')}\n`);

  const failed = results.some((r) => r.error !== undefined) || torch.some((t) => t.error !== undefined);
  if (failed) process.exitCode = 1;
}

main();
