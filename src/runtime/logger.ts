/** Severity of a log record, from most to least verbose. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** A leveled logger. Library code logs only through this interface and never prints. */
export interface Logger {
  /** Logs a detail useful only when diagnosing a problem. */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** Logs a normal event, such as which backend was chosen. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Logs a problem the library worked around. */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** Logs a failure. */
  error(message: string, fields?: Record<string, unknown>): void;
}

const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

/** Creates a logger that writes records at `level` or above to `sink` (standard error by default). */
export function createLogger(
  level: LogLevel = 'warn',
  sink: (line: string) => void = (line) => process.stderr.write(line + '\n'),
): Logger {
  const write = (at: Exclude<LogLevel, 'silent'>) => (message: string, fields?: Record<string, unknown>) => {
    if (order[at] < order[level]) return;
    const suffix = fields === undefined ? '' : ' ' + JSON.stringify(fields);
    sink(`[vlm-compat] ${at}: ${message}${suffix}`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/** A logger that drops every record. */
export const silentLogger: Logger = createLogger('silent');

let current: Logger = createLogger((process.env.VLM_COMPAT_LOG_LEVEL as LogLevel | undefined) ?? 'warn');

/** Returns the library-wide logger. */
export function getLogger(): Logger {
  return current;
}

/** Replaces the library-wide logger, for example with one that forwards to the application's own. */
export function setLogger(logger: Logger): void {
  current = logger;
}
