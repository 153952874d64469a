import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ResultsFile } from '../src/pipeline/results.js';
import { renderHtml } from '../src/report/index.js';
import { sampleResults } from './fixtures/sample-results.js';

const chromiumPath = '/usr/bin/chromium';
const hasChromium = existsSync(chromiumPath);
/** Longest wait for Chromium to start, load a page and return the probe's result, milliseconds. */
const pageTimeoutMs = 30_000;

/** What a page did while it loaded: console errors, uncaught exceptions, failed loads, and a layout probe. */
interface PageReport {
  readonly errors: string[];
  readonly warnings: string[];
  readonly probe: LayoutProbe;
}

/** Measurements taken in the page after it loaded. */
interface LayoutProbe {
  readonly svgCount: number;
  /** Texts whose box reaches outside their <svg>, as "chart id: text". */
  readonly outside: string[];
  /** Pairs of unrotated texts in one <svg> whose boxes overlap, as "chart id: a / b". */
  readonly overlapping: string[];
}

// Runs in the page: measures every <text> of every <svg> with the browser's real font metrics.
const layoutProbe = `(() => {
  const outside = [];
  const overlapping = [];
  const svgs = [...document.querySelectorAll('svg')];
  for (const svg of svgs) {
    const frame = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll('text')].map((node) => ({ node, box: node.getBoundingClientRect() }));
    for (const { node, box } of texts) {
      if (box.left < frame.left - 1 || box.right > frame.right + 1 || box.top < frame.top - 1 || box.bottom > frame.bottom + 1) {
        outside.push(svg.id + ': ' + node.textContent);
      }
    }
    const flat = texts.filter(({ node }) => !node.hasAttribute('transform'));
    for (let i = 0; i < flat.length; i++) {
      for (let j = i + 1; j < flat.length; j++) {
        const a = flat[i].box, b = flat[j].box;
        const overlap = Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
        if (overlap) overlapping.push(svg.id + ': ' + flat[i].node.textContent + ' / ' + flat[j].node.textContent);
      }
    }
  }
  return JSON.stringify({ svgCount: svgs.length, outside, overlapping });
})()`;

/**
 * Opens `url` in headless Chromium over the DevTools protocol and collects console errors, uncaught
 * exceptions and log entries (failed resource loads land there) until the load event, then runs the layout
 * probe. With `--remote-debugging-pipe`, commands go to fd 3 and replies and events come from fd 4, each
 * message ending with a NUL byte.
 */
async function openInChromium(url: string, profile: string): Promise<PageReport> {
  const child = spawn(
    chromiumPath,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      '--remote-debugging-pipe',
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] },
  );
  let startError: Error | undefined;
  const commands = child.stdio[3] as Writable;
  const replies = child.stdio[4] as Readable;
  // A write after Chromium exits fails with EPIPE; the timeout below then reports the failure.
  commands.on('error', (error) => {
    startError ??= error;
  });

  const errors: string[] = [];
  const warnings: string[] = [];
  const pending = new Map<number, (message: Record<string, unknown>) => void>();
  const listeners: Array<(message: Record<string, unknown>) => void> = [];
  let buffered = '';
  replies.setEncoding('utf8');
  replies.on('data', (chunk: string) => {
    buffered += chunk;
    let end = buffered.indexOf('\0');
    while (end >= 0) {
      const message = JSON.parse(buffered.slice(0, end)) as Record<string, unknown>;
      buffered = buffered.slice(end + 1);
      end = buffered.indexOf('\0');
      if (typeof message.id === 'number') pending.get(message.id)?.(message);
      else for (const listener of listeners) listener(message);
    }
  });
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => resolve());
    child.on('error', (error) => {
      startError = error;
      resolve();
    });
  });

  let nextId = 1;
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, (message) => (message.error === undefined ? resolve((message.result ?? {}) as Record<string, unknown>) : reject(new Error(`${method}: ${JSON.stringify(message.error)}`))));
      commands.write(JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) }) + '\0');
    });

  listeners.push((message) => {
    const params = (message.params ?? {}) as Record<string, any>;
    if (message.method === 'Runtime.consoleAPICalled') {
      const text = (params.args ?? []).map((arg: { value?: unknown; description?: string }) => String(arg.value ?? arg.description)).join(' ');
      if (params.type === 'error' || params.type === 'assert') errors.push(`console.${params.type}: ${text}`);
      else if (params.type === 'warning') warnings.push(`console.warn: ${text}`);
    } else if (message.method === 'Runtime.exceptionThrown') {
      errors.push(`uncaught: ${params.exceptionDetails?.exception?.description ?? params.exceptionDetails?.text}`);
    } else if (message.method === 'Log.entryAdded') {
      const entry = params.entry as { level: string; text: string; url?: string };
      if (entry.level === 'error') errors.push(`log: ${entry.text} ${entry.url ?? ''}`.trim());
      else if (entry.level === 'warning') warnings.push(`log: ${entry.text}`);
    }
  });

  const session = async (): Promise<PageReport> => {
    const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    await send('Runtime.enable', {}, sessionId);
    await send('Log.enable', {}, sessionId);
    await send('Page.enable', {}, sessionId);

    const loaded = new Promise<void>((resolve) => listeners.push((message) => message.method === 'Page.loadEventFired' && resolve()));
    await send('Page.navigate', { url }, sessionId);
    await loaded;
    // Console and log events of the last resources can arrive just after the load event.
    await new Promise((resolve) => setTimeout(resolve, 300));

    const evaluation = await send('Runtime.evaluate', { expression: layoutProbe, returnByValue: true }, sessionId);
    const probe = JSON.parse((evaluation.result as { value: string }).value) as LayoutProbe;
    await send('Browser.close').catch(() => undefined);
    return { errors, warnings, probe };
  };

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Chromium did not finish loading ${url} within ${pageTimeoutMs} ms${startError ? ` (${startError.message})` : ''}`)), pageTimeoutMs);
  });
  try {
    return await Promise.race([session(), timeout]);
  } finally {
    clearTimeout(timer);
    child.kill();
    await exited;
  }
}

/** Returns the sample plus five methods on oxford-pets, with long names and several at one depth with close retentions. */
function crowdedResults(): ResultsFile {
  const copy = structuredClone(sampleResults) as any;
  const templates = copy.cells.filter((cell: any) => cell.key.dataset === 'oxford-pets' && cell.status === 'ok');
  const added = [
    ['maple-with-a-very-long-method-name', 'both-layers'],
    ['kgcoop', 'text-input'],
    ['prograd', 'text-input'],
    ['tip-adapter-f', 'output-features'],
    ['lora-rank-16-all-projections', 'both-layers'],
  ] as const;
  added.forEach(([method, depth], i) => {
    const cell = structuredClone(templates[i % templates.length]);
    cell.key.method = method;
    cell.depth = depth;
    cell.metrics = cell.metrics.map((metric: any) => (metric.name === 'retention' ? { ...metric, value: metric.value - 0.01 * i } : metric));
    copy.cells.push(cell);
  });
  return copy as ResultsFile;
}

describe.skipIf(!hasChromium)(`report.html in headless Chromium (skipped when ${chromiumPath} is absent)`, () => {
  let folder: string;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'vlm-compat-report-'));
  });

  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  test('detector catches errors and bad layout', async () => {
    const page = join(folder, 'control.html');
    const svg = '<svg id="control" width="100" height="50" viewBox="0 0 100 50"><text x="90" y="20">far outside</text><text x="5" y="40">ab</text><text x="6" y="41">cd</text></svg>';
    await writeFile(
      page,
      `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>control</title></head><body>${svg}<img src="missing.png" alt=""><script>console.error("control error")</script></body></html>`,
    );
    const report = await openInChromium(pathToFileURL(page).href, join(folder, 'profile-control'));

    expect(report.errors.some((error) => error.includes('control error'))).toBe(true);
    expect(report.errors.some((error) => error.includes('missing.png'))).toBe(true);
    expect(report.probe.outside).toEqual(['control: far outside']);
    expect(report.probe.overlapping).toEqual(['control: ab / cd']);
  });

  test('crowded charts keep labels apart', async () => {
    const page = join(folder, 'crowded.html');
    await writeFile(page, renderHtml(crowdedResults()));
    const report = await openInChromium(pathToFileURL(page).href, join(folder, 'profile-crowded'));

    expect(report.errors).toEqual([]);
    expect(report.probe.outside).toEqual([]);
    expect(report.probe.overlapping).toEqual([]);
  });

  for (const lang of ['en', 'ja'] as const) {
    test(`${lang} report loads without console errors`, async () => {
      const page = join(folder, `report-${lang}.html`);
      await writeFile(page, renderHtml(sampleResults, { lang }));
      const report = await openInChromium(pathToFileURL(page).href, join(folder, `profile-${lang}`));

      expect(report.errors).toEqual([]);
      expect(report.warnings).toEqual([]);
      expect(report.probe.svgCount).toBe(4);
      expect(report.probe.outside).toEqual([]);
      expect(report.probe.overlapping).toEqual([]);
    });
  }
});
