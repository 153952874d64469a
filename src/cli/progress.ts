import { getLogger, setLogger } from '../runtime/logger.js';

/** Progress output: a redrawn bar on a terminal, plain log lines otherwise (CI logs, pipes, files). */
export interface Progress {
  /** Shows `done` of `total` with a label. */
  update(label: string, done: number, total: number, detail?: string): void;
  /** Ends the current bar and prints a line. */
  line(text: string): void;
}

/**
 * Creates a progress writer for `stream`: a bar when it is a terminal, else at most one log line per `step` of
 * progress per label (default 0.1, a line per 10%).
 */
export function createProgress(stream: NodeJS.WriteStream = process.stderr, step = 0.1): Progress {
  if (!(step > 0 && step <= 1)) throw new Error(`createProgress: step = ${step} is invalid; give a fraction in (0, 1], such as 0.1`);
  const terminal = stream.isTTY === true;
  let open = false;
  const lastSlot = new Map<string, number>();
  return {
    update(label, done, total, detail = '') {
      const fraction = total === 0 ? 1 : Math.min(1, done / total);
      if (terminal) {
        const width = 24;
        const filled = Math.round(fraction * width);
        const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
        stream.write(`\r\x1b[2K${label} ${bar} ${done}/${total} ${detail}`);
        open = true;
        return;
      }
      const slot = Math.floor(fraction / step + 1e-9);
      if (lastSlot.get(label) === slot) return;
      lastSlot.set(label, slot);
      stream.write(`${label}: ${done}/${total} ${detail}\n`);
    },
    line(text) {
      if (open) stream.write('\r\x1b[2K');
      open = false;
      stream.write(text + '\n');
    },
  };
}

/**
 * Runs `run` with a library logger that passes each distinct warning on once and drops its repeats, then
 * reports how often each repeated warning came back. A matrix run logs the same warning once per cell
 * (for example the bridge's note on too few unlabeled images), which would bury the progress lines.
 */
export async function foldRepeatedWarnings<T>(run: () => Promise<T>): Promise<T> {
  const previous = getLogger();
  const repeats = new Map<string, number>();
  setLogger({
    debug: (message, fields) => previous.debug(message, fields),
    info: (message, fields) => previous.info(message, fields),
    error: (message, fields) => previous.error(message, fields),
    warn: (message, fields) => {
      const key = fields === undefined ? message : `${message} ${JSON.stringify(fields)}`;
      const seen = repeats.get(key);
      repeats.set(key, (seen ?? -1) + 1);
      if (seen === undefined) previous.warn(message, fields);
    },
  });
  try {
    return await run();
  } finally {
    setLogger(previous);
    for (const [key, count] of repeats) {
      if (count > 0) previous.warn(`the warning "${key.length > 90 ? `${key.slice(0, 87)}...` : key}" came ${count} more ${count === 1 ? 'time' : 'times'}`);
    }
  }
}
