import { afterEach, describe, expect, it } from 'vitest';
import { createProgress, foldRepeatedWarnings } from '../src/cli/progress.js';
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

describe('createProgress', () => {
  const lines = (step: number | undefined, total: number): string[] => {
    const written: string[] = [];
    const stream = { isTTY: false, write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream;
    const progress = step === undefined ? createProgress(stream) : createProgress(stream, step);
    for (let done = 1; done <= total; done++) progress.update('train', done, total);
    return written;
  };

  // The first update opens slot 0, so a phase logs its start and then once per step.
  it('logs every 10% by default', () => {
    expect(lines(undefined, 100)).toHaveLength(11);
  });

  it('logs every half with step 0.5', () => {
    expect(lines(0.5, 100)).toEqual(['train: 1/100 \n', 'train: 50/100 \n', 'train: 100/100 \n']);
  });

  it('rejects a step of 0', () => {
    expect(() => createProgress(process.stderr, 0)).toThrow(/step = 0 is invalid/);
  });
});
