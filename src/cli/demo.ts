import { access, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getMethod, methodNames, resolveConfig } from '../adapters/registry.js';
import type { ModuleKind } from '../adapters/types.js';
import '../backbones/mini.js';
import { migrationMethods, type MigrationMethod } from '../migrate/types.js';
import { decodeEvaluateConfig } from '../pipeline/config.js';
import { runEvaluation } from '../pipeline/run.js';
import { renderHtml, renderMarkdown } from '../report/index.js';
import { initBackend, type BackendName } from '../runtime/backend.js';
import { version } from '../version.js';
import { createProgress, foldRepeatedWarnings } from './progress.js';

/** The streams the demo writes to: the report on stdout, progress on stderr. */
export interface DemoOutput {
  readonly stdout: (text: string) => void;
  readonly stderr: NodeJS.WriteStream;
}

/** Settings of one demo run. */
export interface DemoOptions {
  /** A subset (one task, one module per family) that finishes in about 2 minutes on 2 CPU cores. */
  readonly quick: boolean;
  /** Output folder for the config, results and reports. */
  readonly out: string;
  /** Seeds of the few-shot draws; one by default. */
  readonly seeds: readonly number[];
  /** Tensor backend; the first that loads when absent. */
  readonly backend?: BackendName;
  /** Label-free migrations measured beside the transplant, from each task's unlabeled training pool. Default `bridge`. */
  readonly migrate?: readonly MigrationMethod[];
}

/**
 * The bundled tasks the demo runs: split file name and the name shown in the report. The tasks with one class
 * per emoji (EmojiAnimals, EmojiFood) are left out, because prompt modules encode every class prompt at every
 * step and 128 classes would take the demo past 10 minutes.
 */
const fullTasks = [
  { name: 'emoji-category', splitFile: 'split_zhou_EmojiCategory.json' },
  { name: 'emoji-animal-groups', splitFile: 'split_zhou_EmojiAnimalGroups.json' },
  { name: 'emoji-food-groups', splitFile: 'split_zhou_EmojiFoodGroups.json' },
];
const quickTasks = fullTasks.slice(0, 1);

/** One module per family in the quick demo. */
const quickMethods = ['coop', 'clip-adapter', 'clip-lora', 'linear-probe'];

/**
 * Epochs each module family trains for in the full demo, at most its published default. The demo must fit in
 * 10 minutes on 2 CPU cores, so prompt modules (which encode every class prompt at every step) and modules
 * that backpropagate through the image tower get the fewest epochs.
 */
const demoEpochs: Readonly<Record<ModuleKind, number>> = { prompt: 5, adapter: 20, probe: 20, lora: 2, deep: 1 };

/**
 * Module options the mini backbones need. MaPLe prompts 9 of ViT-B/16's 12 layers by default, and the mini
 * towers have 4 layers, so the demo prompts 3 of them.
 */
const demoModuleOptions: Readonly<Record<string, Record<string, unknown>>> = { maple: { promptDepth: 3 } };

/** Methods that encode every class prompt once per image (CoCoOp's image-conditioned prompts) train one epoch. */
const onePassMethods = new Set(['cocoop']);

/** Largest factor by which the demo raises a method's learning rate to make up for the epochs it cuts. */
const maxRateBoost = 10;

/** Training settings of one method in the demo, as the `training` overrides of an evaluate config. */
export interface DemoTraining {
  readonly epochs: number;
  readonly learningRate?: number;
  readonly warmupEpochs: number;
}

/**
 * Returns a method's training settings in the demo. Epochs are the family's budget (halved with --quick) and
 * never above the method's default. The learning rate is raised by the ratio of the epochs cut, at most 10×,
 * so that a module still moves in a short run. The warmup is dropped, because at 1 of 5 epochs it would spend
 * a fifth of the run at a learning rate near 0.
 */
export function demoTraining(method: string, quick: boolean): DemoTraining {
  const defaults = getMethod(method).training;
  const budget = onePassMethods.has(method) ? 1 : Math.max(1, Math.round(demoEpochs[getMethod(method).kind] / (quick ? 2 : 1)));
  const epochs = Math.min(defaults.epochs, budget);
  if (defaults.learningRate === 0 || epochs === 0) return { epochs, warmupEpochs: 0 };
  const boost = Math.min(maxRateBoost, defaults.epochs / epochs);
  return { epochs, learningRate: defaults.learningRate * boost, warmupEpochs: 0 };
}

/** Finds the bundled data/emoji-tasks folder by walking up from this file (dist/ when installed, src/cli/ in a clone). */
export function demoTasksFolder(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let folder = start;
  for (;;) {
    const candidate = join(folder, 'data', 'emoji-tasks');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(folder);
    if (parent === folder) throw new Error(`The bundled emoji tasks were not found in a data/emoji-tasks folder above ${start}. Reinstall vlm-compat.`);
    folder = parent;
  }
}

/**
 * Lists the registered methods a matrix can train from their default config. A wrapper such as `bridged`,
 * whose config must name an already trained module, is left out.
 */
export function demoMethods(): string[] {
  return methodNames().filter((method) => {
    try {
      resolveConfig(getMethod(method), {});
      return true;
    } catch {
      return false;
    }
  });
}

/** Builds the evaluate config the demo runs, as it is written to `<out>/vlm-compat-demo.json`. */
export function demoConfig(options: DemoOptions): Record<string, unknown> {
  const methods = options.quick ? quickMethods.filter((m) => methodNames().includes(m)) : demoMethods();
  const tasks = options.quick ? quickTasks : fullTasks;
  const root = demoTasksFolder();
  return {
    source: 'mini-clip-v1',
    target: 'mini-clip-v2',
    datasets: tasks.map((task) => ({ name: task.name, format: 'coop', root, splitFile: task.splitFile, template: 'an emoji of {}.' })),
    modules: methods.map((method) => ({
      method,
      ...(demoModuleOptions[method] === undefined ? {} : { options: demoModuleOptions[method] }),
      training: demoTraining(method, options.quick),
    })),
    shots: [16],
    seeds: [...options.seeds],
    retrain: true,
    // The forecast and the bridge cost a few percent of a cell; distillation trains a module, so it is opt-in.
    unlabeled: 'train-split',
    forecast: true,
    ...((options.migrate ?? defaultDemoMigrations).length === 0 ? {} : { migrate: [...(options.migrate ?? defaultDemoMigrations)] }),
    bootstrap: 200,
    output: resolve(options.out),
    ...(options.backend === undefined ? {} : { backend: options.backend }),
  };
}

const configFileName = 'vlm-compat-demo.json';

/**
 * Clears the results of an earlier demo in `out`, so that a full run after a quick one (or the reverse)
 * starts afresh. A folder with results that a demo did not write is left alone.
 */
/** Empties `out` of an earlier demo's results and returns how many cell files it removed (0 for a fresh folder). */
async function prepareOutput(out: string): Promise<number> {
  const present = (name: string) =>
    access(join(out, name)).then(
      () => true,
      () => false,
    );
  if (!(await present('run.json'))) return 0;
  if (!(await present(configFileName))) {
    throw new Error(`${out} contains results of another evaluation (run.json without ${configFileName}); choose another folder with --out`);
  }
  const cells = await readdir(join(out, 'cells')).then(
    (names) => names.length,
    () => 0,
  );
  for (const name of ['run.json', 'results.json', 'cells', 'report.md', 'report.html']) await rm(join(out, name), { recursive: true, force: true });
  return cells;
}

/** Migrations the demo measures unless --migrate sets others: the bridge, which costs seconds. */
const defaultDemoMigrations: readonly MigrationMethod[] = ['bridge'];

/** Reads --migrate: comma-separated migration methods, or `none`. */
function migrateOption(text: string | undefined): MigrationMethod[] {
  if (text === undefined) return [...defaultDemoMigrations];
  if (text.trim() === 'none') return [];
  const methods = text.split(',').map((m) => m.trim());
  const unknown = methods.filter((m) => !(migrationMethods as readonly string[]).includes(m));
  if (unknown.length > 0 || methods.length === 0) {
    throw new Error(`--migrate takes ${migrationMethods.join(', ')} separated by commas, or none; got "${text}"`);
  }
  return [...new Set(methods as MigrationMethod[])];
}

/** Reads the demo's flags: --quick, --out FOLDER, --seeds 1,2,3, --backend NAME, --migrate bridge,distill. */
export function demoOptions(flags: ReadonlyMap<string, string | true>): DemoOptions {
  const value = (name: string): string | undefined => {
    const v = flags.get(name);
    if (v === true) throw new Error(`--${name} needs a value`);
    return v;
  };
  const seedsText = value('seeds') ?? '1';
  const seeds = seedsText.split(',').map((s) => Number(s.trim()));
  if (seeds.some((s) => !Number.isInteger(s))) throw new Error(`--seeds must be integers separated by commas, e.g. --seeds 1,2,3; got "${seedsText}"`);
  const backend = value('backend');
  return {
    quick: flags.get('quick') === true,
    out: value('out') ?? 'vlm-compat-demo',
    seeds,
    migrate: migrateOption(value('migrate')),
    ...(backend === undefined ? {} : { backend: backend as BackendName }),
  };
}

/**
 * Runs the demo: every tuning module (a subset with `quick`) trained on the bundled mini-clip-v1, moved to
 * mini-clip-v2 and compared with v2's zero-shot and a retrained module, on the bundled emoji tasks. Prints the
 * Markdown report and writes report.md, report.html and results.json to the output folder.
 */
export async function runDemo(options: DemoOptions, out: DemoOutput): Promise<number> {
  const started = Date.now();
  const folder = resolve(options.out);
  const replaced = await prepareOutput(folder);
  await mkdir(folder, { recursive: true });
  const plain = demoConfig(options);
  const configPath = join(folder, configFileName);
  await writeFile(configPath, JSON.stringify(plain, null, 2) + '\n');
  const config = decodeEvaluateConfig(plain, configPath);

  const selection = await initBackend(options.backend === undefined ? {} : { backend: options.backend });
  // Each demo cell trains for seconds, so a log line per half of each training phase is enough.
  const progress = createProgress(out.stderr, 0.5);
  if (replaced > 0) progress.line(`replacing the earlier demo results in ${folder} (${replaced} cells); give --out another folder to keep them`);
  const cells = config.modules.length * config.datasets.length * options.seeds.length;
  progress.line(
    `vlm-compat ${version} demo${options.quick ? ' (quick)' : ''}: mini-clip-v1 (CLIP) → mini-clip-v2 (EVA-CLIP), ${config.modules.length} modules × ${config.datasets.length} emoji ${config.datasets.length === 1 ? 'task' : 'tasks'} = ${cells} cells; backend ${selection.name}`,
  );

  const results = await foldRepeatedWarnings(() => runEvaluation(config, {
    onEvent: (event) => {
      if (event.type === 'training') {
        const p = event.progress;
        progress.update(`  ${event.cell} ${event.phase}`, p.step + 1, p.steps, `loss ${p.loss.toFixed(3)}`);
        return;
      }
      const e = event.event;
      const cell = `${e.key.dataset}/${e.key.method}`;
      progress.line(`[${e.position + 1}/${e.total}] ${cell}: ${e.outcome}${e.message === undefined ? '' : ` (${e.message.split('\n')[0]})`}`);
    },
  }));

  const markdown = renderMarkdown(results);
  await writeFile(join(folder, 'report.md'), markdown);
  await writeFile(join(folder, 'report.html'), renderHtml(results));
  out.stdout(markdown);
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  progress.line(`demo finished in ${minutes} min. Reports: ${join(folder, 'report.html')} and ${join(folder, 'report.md')}; results: ${join(folder, 'results.json')}`);
  progress.line(`Rerun it with: vlm-compat evaluate --config ${configPath} (to change a setting, edit a copy and set its "output" to a new folder)`);
  return results.cells.some((c) => c.status === 'failed') ? 1 : 0;
}
