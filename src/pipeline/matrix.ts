import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as TE from 'fp-ts/lib/TaskEither.js';
import { getMethod } from '../adapters/registry.js';
import type { ModuleKind } from '../adapters/types.js';
import { getLogger } from '../runtime/logger.js';
import { version } from '../version.js';
import { describePipelineError, type PipelineError } from './errors.js';
import { jsonDifferences } from './differences.js';
import { resultsSchemaVersion, type BackboneRecord, type CellKey, type CellResult, type ResultsFile } from './results.js';

/** A shard of the matrix: this machine runs cells whose position modulo `count` equals `index` (0-based). */
export interface Shard {
  /** This shard's position, 0-based (`--shard 1/4` gives 0). */
  readonly index: number;
  /** Number of shards. */
  readonly count: number;
}

/** Parses `--shard i/n` with 1-based `i`, as Slurm array and Kubernetes indexed Job users write it (`1/4` … `4/4`). */
export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (match === null || count < 1 || index < 1 || index > count) {
    throw new Error(`Invalid shard "${text}": write i/n with 1 ≤ i ≤ n, e.g. --shard 2/4 (with a Slurm array: --shard $((SLURM_ARRAY_TASK_ID+1))/$SLURM_ARRAY_TASK_COUNT)`);
  }
  return { index: index - 1, count };
}

/** Lists every cell of the matrix in a fixed order: datasets, then methods, then shots, then seeds. */
export function planMatrix(methods: readonly string[], datasets: readonly string[], shots: readonly number[], seeds: readonly number[]): CellKey[] {
  const cells: CellKey[] = [];
  for (const dataset of datasets) for (const method of methods) for (const shot of shots) for (const seed of seeds) cells.push({ method, dataset, seed, shots: shot });
  return cells;
}

/** Returns the cells one shard runs. */
export function selectShard(cells: readonly CellKey[], shard?: Shard): CellKey[] {
  return shard === undefined ? [...cells] : cells.filter((_, i) => i % shard.count === shard.index);
}

/** File name of a cell's result inside `<output>/cells/`. */
export function cellFileName(key: CellKey): string {
  const safe = (text: string) => text.replace(/[^A-Za-z0-9._-]+/g, '_');
  return `${safe(key.dataset)}__${safe(key.method)}__${key.shots}shot__seed${key.seed}.json`;
}

/** The part of results.json that every shard of one run shares, kept in `<output>/run.json`. */
export interface RunHeader {
  /** The source backbone. */
  readonly source: BackboneRecord;
  /** The target backbone. */
  readonly target: BackboneRecord;
  /** Settings that change results: modules, shots, seeds, retrain, prices, tolerance. */
  readonly settings: Readonly<Record<string, unknown>>;
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, path);
}

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8'));
}

async function finishedCells(folder: string): Promise<Map<string, CellResult>> {
  const cells = new Map<string, CellResult>();
  const names = await readdir(folder).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    try {
      const cell = (await readJson(join(folder, name))) as CellResult;
      cells.set(name, cell);
    } catch (error) {
      // A cell file cut short by a crash is not finished: the cell runs again.
      getLogger().warn(`${join(folder, name)} is not a complete cell record (${(error as Error).message}); the cell counts as unfinished and runs again on resume`);
    }
  }
  return cells;
}

/** Progress of a matrix run, one event per cell. */
export interface MatrixEvent {
  /** The cell. */
  readonly key: CellKey;
  /** Position of the cell in this shard's list, 0-based. */
  readonly position: number;
  /** Number of cells in this shard. */
  readonly total: number;
  /** `skipped` when a previous run already finished the cell, else the cell's status. */
  readonly outcome: 'skipped' | 'ok' | 'incompatible' | 'failed';
  /** Error message of an incompatible or failed cell. */
  readonly message?: string;
}

/** Options of {@link runMatrix}. */
export interface MatrixOptions {
  /** Every cell of the matrix, in plan order; the shard picks its part. */
  readonly cells: readonly CellKey[];
  /** Output folder: run.json, cells/ and results.json go here. */
  readonly output: string;
  /** Backbones and settings of the run; must match an existing run.json in `output`. */
  readonly header: RunHeader;
  /** The part of the matrix this machine runs; all cells when absent. */
  readonly shard?: Shard;
  /** Runs one cell; a Left becomes an `incompatible` or `failed` cell record. */
  readonly runCell: (key: CellKey) => TE.TaskEither<PipelineError, CellResult>;
  /** Called after each cell, including skipped ones. */
  readonly onCell?: (event: MatrixEvent) => void;
}

function methodKind(name: string): ModuleKind {
  try {
    return getMethod(name).kind;
  } catch {
    return 'prompt';
  }
}

function failedCell(key: CellKey, error: PipelineError): CellResult {
  const incompatible = error._tag === 'IncompatibleModule';
  return {
    key,
    status: incompatible ? 'incompatible' : 'failed',
    kind: methodKind(key.method),
    // NOTE: depth belongs to a module instance, which a stopped cell may never have built. Reports take it
    // from an ok cell of the same method when there is one.
    depth: 'text-input',
    classNames: [],
    labels: [],
    conditions: {},
    metrics: [],
    perClass: [],
    cost: { train: { seconds: 0, examplesSeen: 0, steps: 0, epochs: 0, trainableParameters: 0, backend: 'none', finalLoss: Number.NaN } },
    mismatches: incompatible ? error.mismatches : [],
    error: describePipelineError(error),
  };
}

/**
 * Runs the cells of this shard, writing each finished cell to `<output>/cells/` at once. Cells already
 * finished there (ok or incompatible) are skipped, so an interrupted run resumes where it stopped; failed
 * cells run again. Returns the results of this shard's cells.
 */
export async function runMatrix(options: MatrixOptions): Promise<ResultsFile> {
  const cellsFolder = join(options.output, 'cells');
  await mkdir(cellsFolder, { recursive: true });
  await writeRunHeader(options.output, options.header);

  const selected = selectShard(options.cells, options.shard);
  const finished = await finishedCells(cellsFolder);
  for (const [position, key] of selected.entries()) {
    const file = cellFileName(key);
    const previous = finished.get(file);
    if (previous !== undefined && previous.status !== 'failed') {
      options.onCell?.({ key, position, total: selected.length, outcome: 'skipped' });
      continue;
    }
    const outcome = await options.runCell(key)();
    const cell = outcome._tag === 'Right' ? outcome.right : failedCell(key, outcome.left);
    await writeAtomically(join(cellsFolder, file), JSON.stringify(cell) + '\n');
    finished.set(file, cell);
    options.onCell?.({ key, position, total: selected.length, outcome: cell.status, ...(cell.error === undefined ? {} : { message: cell.error }) });
  }
  return assembleResults(options.output, selected);
}

async function writeRunHeader(output: string, header: RunHeader): Promise<void> {
  const path = join(output, 'run.json');
  const existing = await readJson(path).catch(() => undefined);
  if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(header)) {
    // Round-trip the header so that it compares as it would be written (undefined fields dropped).
    const differences = jsonDifferences(existing, JSON.parse(JSON.stringify(header)));
    throw new Error(
      `${path} belongs to a run with other backbones or settings (${differences.join('; ')}); ` +
        'use a new output folder, or delete it to start over',
    );
  }
  if (existing === undefined) await writeAtomically(path, JSON.stringify(header, null, 2) + '\n');
}

/** Builds results.json from the cell files of an output folder (all of them, or those of `only`), and writes it. */
export async function assembleResults(output: string, only?: readonly CellKey[]): Promise<ResultsFile> {
  const header = (await readJson(join(output, 'run.json'))) as RunHeader;
  const cells = await finishedCells(join(output, 'cells'));
  const wanted = only === undefined ? [...cells.keys()].sort() : only.map(cellFileName);
  const results: ResultsFile = {
    schema: 'vlm-compat-results',
    schemaVersion: resultsSchemaVersion,
    libraryVersion: version,
    createdAt: new Date().toISOString(),
    ...header,
    cells: wanted.flatMap((name) => {
      const cell = cells.get(name);
      return cell === undefined ? [] : [cell];
    }),
  };
  await writeAtomically(join(output, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  return results;
}

/**
 * Joins the output folders of several shards into `output`: checks they ran with the same backbones and
 * settings, copies every cell, and writes results.json over all of them.
 */
export async function mergeShards(shardFolders: readonly string[], output: string): Promise<ResultsFile> {
  if (shardFolders.length === 0) throw new Error('merge needs at least one shard output folder');
  let header: RunHeader | undefined;
  const cells = new Map<string, CellResult>();
  for (const folder of shardFolders) {
    const shardHeader = (await readJson(join(folder, 'run.json')).catch(() => {
      throw new Error(`${join(folder, 'run.json')} is missing: is ${folder} the output folder of a vlm-compat evaluate run?`);
    })) as RunHeader;
    if (header === undefined) header = shardHeader;
    else if (JSON.stringify(header) !== JSON.stringify(shardHeader)) {
      const differences = jsonDifferences(header, shardHeader);
      throw new Error(`${folder} ran with other backbones or settings than ${shardFolders[0]} (${differences.join('; ')}); only shards of one run can be merged`);
    }
    for (const [name, cell] of await finishedCells(join(folder, 'cells'))) {
      const previous = cells.get(name);
      if (previous === undefined || previous.status === 'failed') cells.set(name, cell);
    }
  }
  await mkdir(join(output, 'cells'), { recursive: true });
  await writeRunHeader(output, header as RunHeader);
  for (const [name, cell] of cells) await writeAtomically(join(output, 'cells', name), JSON.stringify(cell) + '\n');
  return assembleResults(output);
}
