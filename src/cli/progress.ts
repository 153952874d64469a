/** Progress output: a redrawn bar on a terminal, plain log lines otherwise (CI logs, pipes, files). */
export interface Progress {
  /** Shows `done` of `total` with a label. */
  update(label: string, done: number, total: number, detail?: string): void;
  /** Ends the current bar and prints a line. */
  line(text: string): void;
}

/** Creates a progress writer for `stream`; a bar when it is a terminal, else at most one log line per 10% per label. */
export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  const terminal = stream.isTTY === true;
  let open = false;
  const lastDecile = new Map<string, number>();
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
      const decile = Math.floor(fraction * 10);
      if (lastDecile.get(label) === decile) return;
      lastDecile.set(label, decile);
      stream.write(`${label}: ${done}/${total} ${detail}\n`);
    },
    line(text) {
      if (open) stream.write('\r\x1b[2K');
      open = false;
      stream.write(text + '\n');
    },
  };
}
