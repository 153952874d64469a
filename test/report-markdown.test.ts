import { describe, expect, test } from 'vitest';
import type { ResultsFile } from '../src/pipeline/results.js';
import { renderMarkdown } from '../src/report/index.js';
import { sampleResults } from './fixtures/sample-results.js';

const englishHeader = '| method | kind | depth | source + module | target zero-shot | target + transplanted | retention | gain | NFR | decision |';
const japaneseHeader = '| 手法 | 種類 | 接続位置 | ソース + モジュール | ターゲット（ゼロショット） | ターゲット + 移植モジュール | 保持率 | 改善幅 | NFR | 判定 |';

/** Returns a copy of the sample with one change made by `edit`. */
function editedResults(edit: (results: any) => void): ResultsFile {
  const copy = structuredClone(sampleResults) as any;
  edit(copy);
  return copy as ResultsFile;
}

/** Returns the lines of the Markdown section of one data set, from its heading to the next one. */
function sectionOf(markdown: string, dataset: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.indexOf(`## ${dataset}`);
  const end = lines.findIndex((line, i) => i > start && line.startsWith('## '));
  return lines.slice(start, end < 0 ? undefined : end);
}

function tableRowOf(lines: readonly string[], method: string): string | undefined {
  return lines.find((line) => line.startsWith(`| ${method} `));
}

describe('renderMarkdown', () => {
  const markdown = renderMarkdown(sampleResults);
  const eurosat = sectionOf(markdown, 'eurosat');
  const pets = sectionOf(markdown, 'oxford-pets');

  test('one table per data set', () => {
    expect(markdown.split('\n').filter((line) => line === englishHeader)).toHaveLength(2);
    expect(eurosat).toContain(englishHeader);
    expect(pets).toContain(englishHeader);
  });

  test('rule aligns numbers right', () => {
    const header = eurosat.indexOf(englishHeader);
    expect(eurosat[header + 1]).toBe('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  });

  test('single seed with intervals', () => {
    expect(tableRowOf(pets, 'coop')).toBe(
      '| coop | prompt | text-input | 90.0% (80.0–97.5) | 75.0% (60.0–87.5) | 85.0% (72.5–95.0) | 94.4% (82.9–102.9) | +10.0 pt (+0.0–+20.0) | 5.0% (0.0–12.5) | reuse |',
    );
  });

  test('single seed without intervals', () => {
    expect(tableRowOf(pets, 'clip-adapter')).toBe('| clip-adapter | adapter | output-features | 95.0% | 75.0% | 60.0% | 63.2% | -15.0 pt | 35.0% | use zero-shot |');
  });

  test('mean ± std over seeds', () => {
    expect(tableRowOf(eurosat, 'coop')).toBe(
      '| coop (n=3) | prompt | text-input | 90.0% ± 0.0 | 62.5% ± 0.0 | 85.0% ± 2.5 | 94.4% ± 2.8 | +22.5 pt ± 2.5 | 5.0% ± 2.5 | retrain ×2, reuse ×1 |',
    );
    expect(eurosat.join('\n')).toContain('Values with ± are the mean and sample standard deviation over seeds; n is the number of seeds.');
  });

  test('failed seed leaves the mean', () => {
    expect(tableRowOf(eurosat, 'vpt-deep')).toBe(
      '| vpt-deep (n=2) | deep prompt | vision-layers | 90.0% ± 0.0 | 62.5% ± 0.0 | 66.3% ± 1.8 | 73.6% ± 2.0 | +3.8 pt ± 1.8 | 23.8% ± 1.8 | retrain |',
    );
  });

  test('failed cell with reason', () => {
    expect(eurosat).toContain(
      '- vpt-deep, seed 3: **failed** — training vpt-deep failed: Training vpt-deep diverged: loss is NaN at epoch 4, step 37 (learning rate 0.01). Lower the learning rate or check the inputs for NaN.',
    );
  });

  test('incompatible cell with reason', () => {
    expect(tableRowOf(pets, 'clip-lora')).toBe('| clip-lora | LoRA | both-layers | — | — | incompatible | — | — | — | — |');
    expect(pets).toContain(
      '- clip-lora, seed 1: **incompatible** — classNames: the module was trained for classes \\[Abyssinian, Bengal, Birman, Bombay\\] but the data set has \\[abyssinian, bengal, birman, bombay\\]; use the same classes in the same order',
    );
  });

  test('worst classes per method', () => {
    expect(pets).toContain('- coop: Birman 90.0% → 80.0% (-10.0 pt); Bombay 100.0% → 90.0% (-10.0 pt); Abyssinian 90.0% → 90.0% (+0.0 pt)');
    expect(eurosat).toContain('- clip-adapter: HerbaceousVegetation 91.7% → 29.2% (-62.5 pt); Forest 95.8% → 41.7% (-54.2 pt); AnnualCrop 100.0% → 54.2% (-45.8 pt)');
  });

  test('decision arithmetic lines', () => {
    const decision = eurosat.indexOf('- coop, seed 3: **reuse** — Reusing meets the tolerance of 87.0% at the lowest cost.');
    expect(decision).toBeGreaterThan(0);
    expect(eurosat[decision + 1]).toBe('  - tolerance: at most 3.0 points below source + module (90.0%), so accuracy ≥ 87.0%');
    expect(eurosat[decision + 6]).toBe('  - decision: reuse, the cheapest option that meets the tolerance');
  });

  test('retrain reference only when measured', () => {
    expect(eurosat).toContain('**Retrain reference**');
    expect(eurosat).toContain('- coop: retrained on the target 93.3% ± 1.4, recovery 72.9% ± 5.5; retraining took 44.6 s (training on the source 41.3 s).');
    expect(pets).not.toContain('**Retrain reference**');
  });

  test('summary sentences', () => {
    expect(markdown).toContain('- 5 of 7 transplanted modules are compatible: on the target they are at least as accurate as zero-shot (gain ≥ 0).');
    expect(markdown).toContain('- 1 cell was incompatible with the target backbone and 1 failed; the reasons are listed under each table.');
    expect(markdown).toContain('- Mean retention by kind: prompt 94.4% (n=2), adapter 55.5% (n=2), LoRA 81.6% (n=1), deep prompt 79.7% (n=2).');
    expect(markdown).toContain(
      '- Text-input modules kept 94.4% of their source accuracy on average (n=2), deeper ones 70.4% (n=5): shallow modules retained more.',
    );
  });

  test('backbone identities', () => {
    expect(markdown).toContain('| source | clip | ViT-B-16 | openai | `5806e77cd80f` |');
    expect(markdown).toContain('| target | eva-clip | EVA02-CLIP-B-16 | merged2b\\_s8b\\_b131k | `a2c1ac4bfd4f` |');
  });

  test('summary before the tables', () => {
    expect(markdown.indexOf('## Summary')).toBeLessThan(markdown.indexOf('## eurosat'));
  });
});

describe('renderMarkdown in Japanese', () => {
  const markdown = renderMarkdown(sampleResults, { lang: 'ja' });

  test('Japanese headings and header row', () => {
    expect(markdown.startsWith('# vlm-compat 移植評価レポート\n')).toBe(true);
    expect(markdown).toContain('\n## 概要\n');
    expect(markdown).toContain('\n### バックボーン\n');
    expect(markdown.split('\n').filter((line) => line === japaneseHeader)).toHaveLength(2);
    expect(markdown).not.toContain(englishHeader);
  });

  test('method names kept', () => {
    for (const method of ['coop', 'clip-adapter', 'clip-lora', 'vpt-deep']) expect(markdown).toContain(`| ${method}`);
  });

  test('decision words translated', () => {
    expect(markdown).toContain('| 再学習 ×2、再利用 ×1 |');
    expect(markdown).toContain('| ゼロショットに戻す |');
    expect(markdown).toContain('**非互換**');
    expect(markdown).toContain('**失敗**');
  });

  test('Japanese summary', () => {
    expect(markdown).toContain('移植した 7 件のモジュールのうち 5 件が互換です。');
    expect(markdown).toContain('種類別の平均保持率（retention）は、プロンプト 94.4%（n=2）、アダプター 55.5%（n=2）、LoRA 81.6%（n=1）、深層プロンプト 79.7%（n=2）です。');
  });
});

describe('renderMarkdown without prices', () => {
  const withPrices = (prices: unknown) => editedResults((copy) => (copy.settings.prices = prices));

  test('says so when none were set', () => {
    expect(renderMarkdown(withPrices({}))).toContain('No prices were set, so every cost below is 0');
  });

  test('says so when all are 0', () => {
    expect(renderMarkdown(withPrices({ currency: '¥', computePerHour: 0 }))).toContain('No prices were set');
  });

  test('stays silent with a price', () => {
    expect(renderMarkdown(withPrices({ computePerHour: 3 }))).not.toContain('No prices were set');
  });

  test('says so in Japanese', () => {
    expect(renderMarkdown(withPrices({}), { lang: 'ja' })).toContain('価格が設定されていないため');
  });
});

describe('renderMarkdown edge cases', () => {
  test('rejects an unknown language', () => {
    expect(() => renderMarkdown(sampleResults, { lang: 'fr' as 'en' })).toThrow('Report language "fr" is not supported. Use one of: en, ja.');
  });

  test('escapes Markdown in names', () => {
    const results = editedResults((copy) => {
      const cell = copy.cells.find((c: any) => c.key.dataset === 'oxford-pets' && c.key.method === 'coop');
      cell.key.method = 'my|method*';
      cell.perClass[0].className = '<b>&"';
    });
    const markdown = renderMarkdown(results);
    expect(markdown).toContain('| my\\|method\\* | prompt |');
    expect(markdown).toContain('- my\\|method\\*: &lt;b&gt;&amp;" 90.0% → 80.0%');
    expect(markdown).not.toContain('<b>');
  });

  test('falls back to conditions without metrics', () => {
    const results = editedResults((copy) => {
      for (const cell of copy.cells) cell.metrics = [];
    });
    const eurosat = sectionOf(renderMarkdown(results), 'eurosat');
    expect(tableRowOf(eurosat, 'coop')).toBe(
      '| coop (n=3) | prompt | text-input | 90.0% ± 0.0 | 62.5% ± 0.0 | 85.0% ± 2.5 | 94.4% ± 2.8 | +22.5 pt ± 2.5 | 5.0% ± 2.5 | retrain ×2, reuse ×1 |',
    );
  });

  test('gain recorded in points', () => {
    const results = editedResults((copy) => {
      const cell = copy.cells.find((c: any) => c.key.dataset === 'oxford-pets' && c.key.method === 'clip-adapter');
      const gain = cell.metrics.find((m: any) => m.name === 'gain-over-zero-shot');
      gain.unit = 'points';
      gain.value = -15;
    });
    expect(tableRowOf(sectionOf(renderMarkdown(results), 'oxford-pets'), 'clip-adapter')).toContain('| -15.0 pt |');
  });

  test('NaN metric shown as dash', () => {
    const results = editedResults((copy) => {
      const cell = copy.cells.find((c: any) => c.key.dataset === 'oxford-pets' && c.key.method === 'clip-adapter');
      cell.metrics.find((m: any) => m.name === 'nfr').value = Number.NaN;
      cell.conditions['source-module'].predictions = [];
    });
    expect(tableRowOf(sectionOf(renderMarkdown(results), 'oxford-pets'), 'clip-adapter')).toContain('| -15.0 pt | — | use zero-shot |');
  });

  test('shot counts shown when several', () => {
    const results = editedResults((copy) => {
      const cell = structuredClone(copy.cells.find((c: any) => c.key.dataset === 'oxford-pets' && c.key.method === 'coop'));
      cell.key.shots = 4;
      copy.cells.push(cell);
    });
    const pets = sectionOf(renderMarkdown(results), 'oxford-pets');
    expect(pets[2]).toBe('4, 16-shot training; seed 1. Values in parentheses are bootstrap 95% intervals.');
    expect(tableRowOf(pets, 'coop, 16-shot')).toBeDefined();
    expect(tableRowOf(pets, 'coop, 4-shot')).toBeDefined();
  });

  test('only incompatible cells', () => {
    const results = editedResults((copy) => {
      copy.cells = copy.cells.filter((c: any) => c.status === 'incompatible');
    });
    const markdown = renderMarkdown(results);
    expect(markdown).toContain('- No module could be transplanted.');
    expect(markdown).toContain('| clip-lora | prompt | text-input | — | — | incompatible | — | — | — | — |');
  });
});

describe('renderMarkdown without cells', () => {
  const markdown = renderMarkdown({ ...sampleResults, cells: [] });

  test('says nothing was transplanted', () => {
    expect(markdown).toContain('- No module could be transplanted.');
  });

  test('has no data set table', () => {
    expect(markdown).not.toContain(englishHeader);
  });
});
