import { describe, expect, test } from 'vitest';
import { depthOrder } from '../src/adapters/types.js';
import type { ResultsFile } from '../src/pipeline/results.js';
import { renderHtml } from '../src/report/index.js';
import { sampleResults } from './fixtures/sample-results.js';

/** Returns a copy of the sample with one change made by `edit`. */
function editedResults(edit: (results: any) => void): ResultsFile {
  const copy = structuredClone(sampleResults) as any;
  edit(copy);
  return copy as ResultsFile;
}

function count(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}

/** Returns the markup of each <svg> element, in document order. */
function svgsOf(html: string): string[] {
  return html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
}

/** Returns the raw content of each <text> element of an SVG, still escaped. */
function textsOf(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((match) => match[1] as string);
}

describe('renderHtml', () => {
  const html = renderHtml(sampleResults);

  test('HTML5 document with charset and lang', () => {
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
  });

  test('no external resources', () => {
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/\ssrc=/);
    expect(html).not.toMatch(/<script/);
    expect(html).not.toMatch(/url\(/);
    expect(html).not.toMatch(/@import/);
  });

  test('CSS is inline', () => {
    expect(count(html, /<style>/g)).toBe(1);
    expect(html).not.toContain('rel="stylesheet"');
  });

  test('two charts per data set', () => {
    const sections = html.split('<section>').slice(2);
    expect(sections).toHaveLength(2);
    for (const section of sections) expect(count(section, /<svg /g)).toBe(2);
  });

  test('one table per data set', () => {
    const header = '<thead><tr><th scope="col">method</th><th scope="col">kind</th><th scope="col">depth</th><th scope="col">source + module</th>';
    expect(count(html, new RegExp(header.replace(/[+]/g, '\\+'), 'g'))).toBe(2);
  });

  test('table cells by value', () => {
    expect(html).toContain('<td class="number">94.4% <span class="detail">(82.9–102.9)</span></td>');
    expect(html).toContain('<td class="number loss">-15.0 pt</td>');
    expect(html).toContain('<td class="label">coop (n=3)</td>');
  });

  test('incompatible and failed cells with reasons', () => {
    expect(html).toContain('<tr class="not-transplanted"><td class="label">clip-lora</td>');
    expect(html).toContain('<li>clip-lora, seed 1: <strong>incompatible</strong> — classNames: the module was trained for classes [Abyssinian, Bengal, Birman, Bombay]');
    expect(html).toContain('<li>vpt-deep, seed 3: <strong>failed</strong> — training vpt-deep failed: Training vpt-deep diverged');
  });

  test('decision arithmetic in details', () => {
    expect(html).toContain(
      '<li><details><summary>coop, seed 3: <strong>reuse</strong> — Reusing meets the tolerance of 87.0% at the lowest cost.</summary><ul class="arithmetic">',
    );
  });

  test('bar chart draws three bars per method', () => {
    const bars = svgsOf(html)[0] as string;
    // Four methods × three accuracies, plus three legend swatches.
    expect(count(bars, /<rect /g)).toBe(15);
    expect(textsOf(bars)).toEqual(expect.arrayContaining(['source + module', 'target zero-shot', 'target + transplanted', 'coop', 'clip-adapter', 'accuracy (%)']));
  });

  test('bar chart marks a missing accuracy', () => {
    const bars = svgsOf(html)[2] as string;
    // clip-lora on oxford-pets has no accuracy at all: three "n/a" marks instead of bars.
    expect(textsOf(bars).filter((text) => text === 'n/a')).toHaveLength(3);
    expect(count(bars, /<rect /g)).toBe(3 * 3 + 3);
  });

  test('retention chart x axis in depth order', () => {
    const retention = svgsOf(html)[1] as string;
    const labels = textsOf(retention).filter((text) => (depthOrder as readonly string[]).includes(text));
    expect(labels).toEqual([...depthOrder]);
  });

  test('retention chart points per method', () => {
    const eurosat = svgsOf(html)[1] as string;
    const pets = svgsOf(html)[3] as string;
    expect(count(eurosat, /<circle /g)).toBe(4);
    expect(count(pets, /<circle /g)).toBe(3);
    expect(textsOf(pets)).toContain('clip-lora (incompatible)');
    expect(textsOf(eurosat)).toEqual(expect.arrayContaining(['coop', 'clip-adapter', 'clip-lora', 'vpt-deep', 'same as source']));
  });

  test('charts have accessible titles', () => {
    expect(html).toContain('<title id="chart-0-accuracy-title">Accuracy by method on eurosat</title>');
    expect(html).toContain('<title id="chart-1-retention-title">Retention by attachment depth on oxford-pets</title>');
  });
});

describe('renderHtml escaping', () => {
  const hostile = '<b>&"';
  const html = renderHtml(
    editedResults((copy) => {
      const cell = copy.cells.find((c: any) => c.key.dataset === 'oxford-pets' && c.key.method === 'coop');
      cell.perClass[0].className = hostile;
      cell.key.method = `m${hostile}`;
      copy.cells.find((c: any) => c.key.dataset === 'eurosat').key.dataset = `<i>${hostile}`;
    }),
  );

  test('class name escaped', () => {
    expect(html).toContain('&lt;b&gt;&amp;&quot; 90.0% → 80.0%');
  });

  test('no raw markup from results', () => {
    expect(html).not.toContain(hostile);
    expect(html).not.toContain('<b>');
    expect(html).not.toContain('<i>');
  });

  test('method name escaped in charts', () => {
    const texts = svgsOf(html).flatMap(textsOf);
    expect(texts).toContain('m&lt;b&gt;&amp;&quot;');
  });

  test('data set name escaped in heading', () => {
    expect(html).toContain('<h2>&lt;i&gt;&lt;b&gt;&amp;&quot;</h2>');
  });
});

describe('renderHtml in Japanese', () => {
  const html = renderHtml(sampleResults, { lang: 'ja' });

  test('lang attribute', () => {
    expect(html).toContain('<html lang="ja">');
  });

  test('Japanese headings and columns', () => {
    expect(html).toContain('<h2>概要</h2>');
    expect(html).toContain('<th scope="col">ターゲット + 移植モジュール</th>');
  });

  test('Japanese chart labels', () => {
    const texts = svgsOf(html).flatMap(textsOf);
    expect(texts).toEqual(expect.arrayContaining(['ソース + モジュール', 'ターゲット（ゼロショット）', '精度（%）', '保持率（%）', 'テキスト入力', '接続位置（浅い → 深い）']));
  });

  test('method names kept', () => {
    const texts = svgsOf(html).flatMap(textsOf);
    expect(texts).toEqual(expect.arrayContaining(['coop', 'clip-adapter', 'vpt-deep']));
  });
});
