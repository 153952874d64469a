import { afterEach, describe, expect, it } from 'vitest';
import { foldRepeatedWarnings } from '../src/cli/progress.js';
import { createLogger, getLogger, setLogger, type Logger } from '../src/runtime/logger.js';

describe('foldRepeatedWarnings', () => {
  const original = getLogger();
  let lines: string[] = [];
  const capture = (): Logger => {
    lines = [];
    return createLogger('warn', (line) => lines.push(line));
  };

  afterEach(() => setLogger(original));

  it('passes each warning on once', async () => {
    setLogger(capture());
    await foldRepeatedWarnings(async () => {
      for (let i = 0; i < 3; i++) getLogger().warn('bridge: too few images');
      getLogger().warn('another problem');
    });
    expect(lines.filter((line) => line.endsWith('warn: bridge: too few images'))).toHaveLength(1);
    expect(lines.filter((line) => line.endsWith('warn: another problem'))).toHaveLength(1);
  });

  it('counts the repeats at the end', async () => {
    setLogger(capture());
    await foldRepeatedWarnings(async () => {
      for (let i = 0; i < 3; i++) getLogger().warn('bridge: too few images');
    });
    expect(lines.at(-1)).toBe('[vlm-compat] warn: the warning "bridge: too few images" came 2 more times');
  });

  it('restores the logger after a failure', async () => {
    const logger = capture();
    setLogger(logger);
    await expect(foldRepeatedWarnings(async () => Promise.reject(new Error('stopped')))).rejects.toThrow('stopped');
    expect(getLogger()).toBe(logger);
  });

  it('returns the run result', async () => {
    setLogger(capture());
    expect(await foldRepeatedWarnings(async () => 42)).toBe(42);
  });
});
