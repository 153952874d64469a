#!/usr/bin/env node
// Runs `npm run build` unless dist/ is newer than every input of the build, so that `npm run demo` starts at
// once when nothing changed since the last build. Inputs: src/, tsup.config.ts, tsconfig.json, package.json.

import { spawnSync } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Returns the latest modification time (ms) of a file, or of any file below a folder; 0 when it is missing. */
async function newest(path) {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) return 0;
  if (!info.isDirectory()) return info.mtimeMs;
  let latest = 0;
  for (const entry of await readdir(path)) latest = Math.max(latest, await newest(join(path, entry)));
  return latest;
}

/** Returns the earliest modification time (ms) of the build's outputs the command needs; 0 when one is missing. */
async function oldestOutput() {
  const times = await Promise.all(['dist/index.js', 'dist/cli/main.js', 'dist/index.d.ts'].map((path) => newest(path)));
  return Math.min(...times);
}

const inputs = Math.max(...(await Promise.all(['src', 'tsup.config.ts', 'tsconfig.json', 'package.json'].map((path) => newest(path)))));
const outputs = await oldestOutput();
if (outputs > inputs) {
  console.error('dist/ is up to date with src/; skipping the build');
} else {
  const result = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
