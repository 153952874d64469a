import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { methodNames, UnknownMethodError } from '../adapters/registry.js';
import { loadModule } from '../adapters/save.js';
import { backboneNames, loadBackbone } from '../backbones/registry.js';
import { checkEvaluateConfig, ConfigError, decodeEvaluateConfig, resolvePluginPaths, type EvaluateConfig } from '../pipeline/config.js';
import { mergeShards, parseShard } from '../pipeline/matrix.js';
import { checkCompatibility } from '../pipeline/preflight.js';
import type { ResultsFile } from '../pipeline/results.js';
import { runEvaluation } from '../pipeline/run.js';
import { renderHtml, renderMarkdown, validateResults, type ReportLanguage } from '../report/index.js';
import { backendPreference, initBackend, type BackendName } from '../runtime/backend.js';
import { closestName } from '../runtime/names.js';
import { version } from '../version.js';
import { parseArguments, UsageError, type CommandSyntax } from './args.js';
import { demoOptions, runDemo } from './demo.js';
import { createProgress, foldRepeatedWarnings } from './progress.js';

/** The streams the CLI writes to; tests replace them. */
export interface CliOutput {
  readonly stdout: (text: string) => void;
  readonly stderr: NodeJS.WriteStream;
}

const usage = `vlm-compat ${version}: do tuning modules survive a vision-language backbone update?

Usage:
  vlm-compat demo [--quick] [--out FOLDER] [--seeds 1,2,3] [--migrate bridge,distill|none]
      Offline showcase on the bundled mini-clip-v1 → mini-clip-v2 update and emoji tasks: every module
      trained, transplanted and reported, with a label-free forecast per cell and the migrations --migrate
      names (default bridge). --quick runs coop, clip-adapter, clip-lora and linear-probe on one task (under
      a minute on 2 cores). Default out ./vlm-compat-demo.
  vlm-compat evaluate --config FILE [--shard I/N] [--backend NAME] [--lang en|ja]
      Train each module on the source backbone, transplant it to the target, measure and report.
      Finished cells are kept in the output folder, so a rerun resumes where it stopped.
      The config's "plugins" (ES module files that register custom methods) are imported first.
  vlm-compat check --config FILE [--backend NAME]
      Import the config's plugins, validate the config (every field, method name and module option),
      open its data sets and unlabeled images without decoding them, and load its backbones, without
      training anything.
  vlm-compat check --module FOLDER --target NAME|FOLDER [--classes a,b,c] [--plugins FILE,FILE] [--backend NAME]
      Preflight a saved module against a target backbone; exits with 1 on any mismatch. --plugins imports
      ES module files that register the module's method first, for a module of a custom method.
  vlm-compat report --results FILE [--out FOLDER] [--lang en|ja]
      Render report.md and report.html again from results.json.
  vlm-compat merge --out FOLDER SHARD_FOLDER...
      Join the output folders of sharded evaluate runs into one results.json and report.

Options:
  --shard I/N      run the I-th of N interleaved parts of the matrix (1-based), e.g. one per Slurm array task
  --backend NAME   tensor backend: tensorflow-gpu, tensorflow, wasm or cpu (default: the first that loads)
  --lang en|ja     report language (default en)
A command rejects flags it does not take.
`;

/** The flags each command takes; any other flag is rejected before the command runs. */
const commandSyntax: Readonly<Record<string, CommandSyntax>> = {
  demo: { values: ['out', 'seeds', 'migrate', 'backend'], switches: ['quick'] },
  evaluate: { values: ['config', 'shard', 'backend', 'lang'] },
  check: { values: ['config', 'module', 'target', 'classes', 'plugins', 'backend'] },
  report: { values: ['results', 'out', 'lang'] },
  merge: { values: ['out', 'lang'], positional: true },
  help: { values: [] },
  version: { values: [] },
};

function flag(flags: ReadonlyMap<string, string | true>, name: string): string | undefined {
  const value = flags.get(name);
  if (value === true) throw new UsageError(`--${name} needs a value`);
  return value;
}

/** Reads --backend, which every command that takes it checks the same way before doing anything else. */
function backendFlag(flags: ReadonlyMap<string, string | true>): BackendName | undefined {
  const backend = flag(flags, 'backend');
  if (backend === undefined || (backendPreference as readonly string[]).includes(backend)) return backend as BackendName | undefined;
  // "gpu" is one edit from "cpu", but a user who types it wants the GPU build of TensorFlow.
  const suggestion = /gpu|cuda/i.test(backend) ? 'tensorflow-gpu' : closeValue(backend, backendPreference);
  throw new UsageError(`--backend must be one of ${backendPreference.join(', ')}, got "${backend}"${suggestion === undefined ? '' : `; did you mean ${suggestion}?`}`);
}

/** Returns the valid value within two edits of `value` (one for values of two letters), if there is one. */
function closeValue(value: string, valid: readonly string[]): string | undefined {
  return closestName(value, valid, value.length <= 2 ? 1 : 2);
}

function required(flags: ReadonlyMap<string, string | true>, name: string, example: string): string {
  const value = flag(flags, name);
  if (value === undefined) throw new UsageError(`missing --${name}, e.g. ${example}`);
  return value;
}

function language(flags: ReadonlyMap<string, string | true>): ReportLanguage {
  const lang = flag(flags, 'lang') ?? 'en';
  if (lang !== 'en' && lang !== 'ja') {
    const suggestion = closeValue(lang, ['en', 'ja']);
    throw new UsageError(`--lang must be en or ja, got "${lang}"${suggestion === undefined ? '' : `; did you mean ${suggestion}?`}`);
  }
  return lang;
}

async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    const fix =
      what === 'results'
        ? 'if a run was cut short, run evaluate again with the same config: it rebuilds results.json from the finished cells in cells/'
        : 'fix the file; a JSON validator shows the line of the problem';
    throw new Error(`${path} is not valid JSON (${(error as Error).message}); ${fix}`);
  }
}

/** A plugin file to import: the config field or flag that lists it, and its absolute path. */
interface PluginFile {
  /** Config field or flag that lists the file, such as `plugins.1` or `--plugins`. */
  readonly field: string;
  /** The file as written in the config or on the command line. */
  readonly entry: string;
  /** Absolute path of the file. */
  readonly path: string;
}

/** Lists, as `field: …` problems, the plugin files that do not exist or are not files. */
async function missingPlugins(plugins: readonly PluginFile[], base: string): Promise<string[]> {
  const problems: string[] = [];
  for (const plugin of plugins) {
    const isFile = await stat(plugin.path).then(
      (info) => info.isFile(),
      () => false,
    );
    if (!isFile) problems.push(`${plugin.field}: plugin file not found: ${plugin.path} ("${plugin.entry}" is resolved against ${base})`);
  }
  return problems;
}

/** Returns the place in a plugin's file where an import error was raised, as `:line:column`, when its stack names one. */
function errorLocation(error: unknown, plugin: PluginFile): string {
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  for (const name of [pathToFileURL(plugin.path).href, plugin.path]) {
    const at = stack.indexOf(`${name}:`);
    if (at >= 0) return /^:\d+(:\d+)?/.exec(stack.slice(at + name.length))?.[0] ?? '';
  }
  return '';
}

/** Returns the next step for a plugin whose import failed with `error`, or '' when the error message needs none. */
function importAdvice(error: unknown, plugin: PluginFile): string {
  // Node.js 20 imports .js, .mjs and .cjs files only, so a TypeScript plugin has to be compiled first.
  if ((error as NodeJS.ErrnoException).code === 'ERR_UNKNOWN_FILE_EXTENSION') return ' Compile the plugin to JavaScript (.mjs or .js) and list that file.';
  // Node.js keeps the line of a syntax error in an ES module's source out of the error's stack. A SyntaxError
  // raised while the plugin runs (JSON.parse, for example) has its line in the stack and needs no advice.
  if (error instanceof SyntaxError && errorLocation(error, plugin) === '') return ` Run node --check ${plugin.path} to see the line.`;
  return '';
}

/**
 * Imports plugin files in order and returns, for each, what it added to the method and backbone registries.
 * An import that throws is raised again with the plugin's field, path and the error.
 */
async function importPlugins(plugins: readonly PluginFile[]): Promise<Array<{ entry: string; registered: string }>> {
  const imported: Array<{ entry: string; registered: string }> = [];
  for (const plugin of plugins) {
    const methodsBefore = new Set(methodNames());
    const backbonesBefore = new Set(backboneNames());

    try {
      await import(pathToFileURL(plugin.path).href);
    } catch (error) {
      const message = (error instanceof Error ? error.message : String(error)).replace(/\.?$/, '.');
      throw new Error(`plugin ${plugin.field} (${plugin.path}${errorLocation(error, plugin)}) failed on import: ${message}${importAdvice(error, plugin)}`);
    }

    const methods = methodNames().filter((name) => !methodsBefore.has(name));
    const backbones = backboneNames().filter((name) => !backbonesBefore.has(name));
    const added = [...(methods.length === 0 ? [] : [`methods ${methods.join(', ')}`]), ...(backbones.length === 0 ? [] : [`backbones ${backbones.join(', ')}`])];
    imported.push({ entry: plugin.entry, registered: added.length === 0 ? 'no new method or backbone' : added.join('; ') });
  }
  return imported;
}

/**
 * Reads and decodes an evaluate config after importing its plugins, so that method names and options are
 * checked against the methods the plugins register. With `openDatasets`, also opens the data sets and the
 * unlabeled images as {@link checkEvaluateConfig} does. Returns the config and one line per plugin.
 */
async function loadConfig(configPath: string, openDatasets: boolean): Promise<{ config: EvaluateConfig; pluginLines: string[] }> {
  const value = await readJsonFile(configPath, 'config');
  const plugins = resolvePluginPaths(value, configPath).map((plugin, i) => ({ ...plugin, field: `plugins.${i}` }));

  const missing = await missingPlugins(plugins, dirname(resolve(configPath)));
  if (missing.length > 0) throw new ConfigError(configPath, missing);
  const imported = await importPlugins(plugins);

  const options = { loadedPlugins: imported.map((p) => `${p.entry} (registered ${p.registered})`) };
  const config = openDatasets ? await checkEvaluateConfig(value, configPath, options) : decodeEvaluateConfig(value, configPath, options);
  return { config, pluginLines: imported.map((p) => `plugin ${p.entry}: registered ${p.registered}`) };
}

/** Writes report.md and report.html next to results.json and returns the Markdown. */
export async function writeReports(results: ResultsFile, folder: string, lang: ReportLanguage): Promise<string> {
  await mkdir(folder, { recursive: true });
  const markdown = renderMarkdown(results, { lang });
  await writeFile(join(folder, 'report.md'), markdown);
  await writeFile(join(folder, 'report.html'), renderHtml(results, { lang }));
  return markdown;
}

async function evaluate(flags: ReadonlyMap<string, string | true>, out: CliOutput): Promise<number> {
  // Flags are checked before the config is read, so a typo does not surface only after the whole run.
  const configPath = required(flags, 'config', '--config vlm-compat.json');
  const shardText = flag(flags, 'shard');
  const shard = shardText === undefined ? undefined : parseShard(shardText);
  const lang = language(flags);
  const backendOverride = backendFlag(flags);

  const { config, pluginLines } = await loadConfig(configPath, false);
  const backend = backendOverride ?? config.backend;
  const selection = await initBackend(backend === undefined ? {} : { backend });
  const progress = createProgress(out.stderr);
  progress.line(`vlm-compat ${version}: backend ${selection.name}; output ${config.output}`);
  for (const line of pluginLines) progress.line(line);

  const results = await foldRepeatedWarnings(() => runEvaluation(config, {
    ...(shard === undefined ? {} : { shard }),
    onEvent: (event) => {
      if (event.type === 'training') {
        const p = event.progress;
        progress.update(`  ${event.cell} ${event.phase}`, p.step + 1, p.steps, `epoch ${p.epoch + 1}/${p.epochs} loss ${p.loss.toFixed(3)} ${p.examplesPerSecond.toFixed(0)} ex/s`);
        return;
      }
      const e = event.event;
      const cell = `${e.key.dataset}/${e.key.method}/${e.key.shots}-shot/seed ${e.key.seed}`;
      progress.line(`[${e.position + 1}/${e.total}] ${cell}: ${e.outcome}${e.message === undefined ? '' : ` (${e.message.split('\n')[0]})`}`);
    },
  }));
  out.stdout(await writeReports(results, config.output, lang));
  progress.line(`wrote ${join(config.output, 'results.json')}, report.md and report.html`);
  return results.cells.some((c) => c.status === 'failed') ? 1 : 0;
}

/**
 * Returns the line printed after the unknown method of a saved module: how to import the plugin that
 * registers it, and which plugins `--plugins` imported when it was given.
 */
function unknownModuleMethodHint(method: string, loadedPlugins: readonly string[] | undefined): string {
  if (loadedPlugins === undefined) return `If "${method}" is a custom method, pass the file that registers it with --plugins FILE.`;
  const loaded = loadedPlugins.length === 0 ? 'none' : loadedPlugins.join(', ');
  return (
    `Plugins loaded: ${loaded}. Pass the file that registers "${method}" with --plugins FILE. Plugins must be ES modules, ` +
    `because a CommonJS plugin (require('vlm-compat')) registers its methods in a separate registry that this command does not read.`
  );
}

/** The flags of `check --module` that `check --config` does not take. */
const moduleCheckFlags = ['module', 'target', 'classes', 'plugins'];

async function check(flags: ReadonlyMap<string, string | true>, out: CliOutput): Promise<number> {
  const configPath = flag(flags, 'config');
  const backendOverride = backendFlag(flags);
  if (configPath !== undefined) {
    const extra = moduleCheckFlags.filter((name) => flags.has(name));
    if (extra.length > 0) {
      throw new UsageError(
        `check --config does not take ${extra.map((name) => `--${name}`).join(', ')}; run check --module FOLDER --target NAME to preflight a saved module, and list plugins of a config in its "plugins" field`,
      );
    }
    const { config, pluginLines } = await loadConfig(configPath, true);
    for (const line of pluginLines) out.stdout(`${line}\n`);
    const backend = backendOverride ?? config.backend;
    await initBackend(backend === undefined ? {} : { backend });
    for (const [role, reference] of [['source', config.source], ['target', config.target]] as const) {
      const backbone = await loadBackbone(typeof reference === 'string' ? reference : reference.folder);
      out.stdout(`${role}: ${backbone.identity.family} ${backbone.identity.name} (${backbone.identity.weightsSha256.slice(0, 12)}), embed ${backbone.dims.embedDim}, text ${backbone.dims.textWidth}×${backbone.dims.textLayers}, vision ${backbone.dims.visionWidth}×${backbone.dims.visionLayers}\n`);
      backbone.dispose();
    }
    out.stdout(`${configPath}: valid; ${config.modules.length} module(s) × ${config.datasets.length} data set(s), data set files found\n`);
    return 0;
  }
  const modulePath = required(flags, 'module', '--module saved/coop');
  const targetReference = required(flags, 'target', '--target path/to/eva-clip');
  const pluginList = flag(flags, 'plugins');
  let loadedPlugins: string[] | undefined;
  if (pluginList !== undefined) {
    const entries = pluginList.split(',').filter((entry) => entry !== '');
    const plugins = entries.map((entry) => ({ field: '--plugins', entry, path: resolve(entry) }));
    const missing = await missingPlugins(plugins, process.cwd());
    if (missing.length > 0) throw new Error(missing.join('\n'));
    const imported = await importPlugins(plugins);
    for (const plugin of imported) out.stdout(`plugin ${plugin.entry}: registered ${plugin.registered}\n`);
    loadedPlugins = imported.map((plugin) => `${plugin.entry} (registered ${plugin.registered})`);
  }
  await initBackend(backendOverride === undefined ? {} : { backend: backendOverride });
  const { module, manifest } = await loadModule(modulePath).catch((error: unknown) => {
    if (!(error instanceof UnknownMethodError)) throw error;
    throw new Error(`${error.message}\n${unknownModuleMethodHint(error.method, loadedPlugins)}`);
  });
  module.dispose();
  const target = await loadBackbone(targetReference);
  const classes = flag(flags, 'classes');
  const mismatches = checkCompatibility(manifest, target, classes === undefined ? undefined : classes.split(','));
  target.dispose();
  if (mismatches.length === 0) {
    out.stdout(`${manifest.method} (trained on ${manifest.source.identity.name}) fits ${targetReference}: no mismatch\n`);
    return 0;
  }
  out.stdout(`${manifest.method} does not fit ${targetReference}:\n${mismatches.map((m) => `  - ${m.message}`).join('\n')}\n`);
  return 1;
}

async function report(flags: ReadonlyMap<string, string | true>, out: CliOutput): Promise<number> {
  const resultsPath = required(flags, 'results', '--results out/results.json');
  const lang = language(flags);
  const results = validateResults(await readJsonFile(resultsPath, 'results'));
  const folder = flag(flags, 'out') ?? join(resultsPath, '..');
  out.stdout(await writeReports(results, folder, lang));
  return 0;
}

async function merge(flags: ReadonlyMap<string, string | true>, positional: readonly string[], out: CliOutput): Promise<number> {
  const output = required(flags, 'out', '--out merged shard-1 shard-2');
  if (positional.length === 0) throw new UsageError('merge needs the shard output folders, e.g. vlm-compat merge --out merged out-1 out-2');
  // The language is checked before mergeShards writes the merged results.json.
  const lang = language(flags);
  const results = await mergeShards(positional, output);
  out.stdout(await writeReports(results, output, lang));
  return 0;
}

/** Runs the CLI on `argv` (without `node` and the script) and returns the exit code: 0 success, 1 failure or mismatch, 2 usage error. */
export async function main(argv: readonly string[], out: CliOutput = { stdout: (text) => process.stdout.write(text), stderr: process.stderr }): Promise<number> {
  try {
    const { command, flags, positional } = parseArguments(argv, commandSyntax);
    if (flags.has('version') || command === 'version') {
      out.stdout(`${version}\n`);
      return 0;
    }
    if (command === undefined || command === 'help' || flags.has('help')) {
      out.stdout(usage);
      return command === undefined && !flags.has('help') ? 2 : 0;
    }
    switch (command) {
      case 'evaluate':
        return await evaluate(flags, out);
      case 'check':
        return await check(flags, out);
      case 'report':
        return await report(flags, out);
      case 'merge':
        return await merge(flags, positional, out);
      case 'demo':
        backendFlag(flags);
        return await runDemo(demoOptions(flags), out);
      default:
        throw new UsageError(`unknown command "${command}"; the commands are ${Object.keys(commandSyntax).join(', ')}`);
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    out.stderr.write(`vlm-compat: ${message}\n`);
    if (error instanceof UsageError) {
      out.stderr.write('Run vlm-compat help for usage.\n');
      return 2;
    }
    return 1;
  }
}
