import type { ResultsFile } from '../pipeline/results.js';
import { accuracyChart, retentionChart } from './charts.js';
import { forecastTable, migrationTable, type TextTable } from './forecast.js';
import { escapeHtml, shortHash } from './format.js';
import { explainDecision, messagesFor, type RenderOptions, type ReportMessages } from './i18n.js';
import { buildReportModel, type DatasetSection, type MethodRow } from './model.js';
import {
  cellReasons,
  classChangesText,
  rowCells,
  retrainText,
  sectionNotes,
  showsShots,
  summarySentences,
} from './text.js';

const styles = `
body { font-family: system-ui, -apple-system, "Segoe UI", "Hiragino Sans", "Noto Sans CJK JP", "Noto Sans JP", sans-serif; color: #222; margin: 0; line-height: 1.5; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.label { white-space: nowrap; }
td .detail { display: block; font-size: 0.85em; color: #555; }
ul.decisions { list-style: none; padding-left: 1em; }
.table-scroll { overflow-x: auto; }
details summary { cursor: pointer; }
tr.not-transplanted td { color: #666; background: #fafafa; }
td.loss { color: #b3261e; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
.generated, .note { color: #555; }
figure { margin: 1em 0; overflow-x: auto; }
figcaption { font-size: 0.9em; color: #444; }
svg { font-family: inherit; max-width: 100%; height: auto; }
svg text { fill: #222; }
ul.arithmetic { margin-top: 0.2em; color: #333; }
`;

/** Columns of a data set table that hold numbers: the three accuracies, retention, gain and NFR. */
const numericColumns: ReadonlySet<number> = new Set([3, 4, 5, 6, 7, 8]);
/** Columns of a data set table that hold names (method, kind, depth), which should not wrap at hyphens. */
const labelColumns: ReadonlySet<number> = new Set([0, 1, 2]);
const gainColumn = 7;

/**
 * Renders results as one self-contained HTML5 page: inline CSS, no scripts and no external resources. It
 * has the same summary, tables and lists as the Markdown report, plus two SVG charts per data set: grouped
 * bars of the three accuracies per method, and retention against attachment depth. Every string taken from
 * the results is escaped.
 */
export function renderHtml(results: ResultsFile, options: RenderOptions = {}): string {
  const lang = options.lang ?? 'en';
  const messages = messagesFor(lang);
  const model = buildReportModel(results);

  const body: string[] = [];
  body.push(`<h1>${escapeHtml(messages.title)}</h1>`);
  body.push(`<p class="generated">${escapeHtml(messages.generated(results.libraryVersion, results.createdAt))}</p>`);

  body.push(`<section>`, `<h2>${escapeHtml(messages.summaryHeading)}</h2>`);
  body.push(list(summarySentences(model, messages)));
  body.push(list(messages.glossary, 'note'));
  body.push(`<h3>${escapeHtml(messages.backbonesHeading)}</h3>`);
  body.push(backboneTable(results, messages));
  body.push(`</section>`);

  model.datasets.forEach((section, index) => body.push(sectionHtml(section, index, messages)));
  for (const [heading, table] of [
    [messages.forecastHeading, forecastTable(results, messages)],
    [messages.migrationHeading, migrationTable(results, messages)],
  ] as const) {
    if (table !== undefined) body.push(textTableHtml(heading, table));
  }

  return [
    '<!DOCTYPE html>',
    `<html lang="${escapeHtml(lang)}">`,
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // An empty data URL stops browsers from requesting /favicon.ico next to the file.
    '<link rel="icon" href="data:,">',
    `<title>${escapeHtml(messages.title)}</title>`,
    `<style>${styles}</style>`,
    '</head>',
    '<body>',
    '<main>',
    ...body,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function backboneTable(results: ResultsFile, messages: ReportMessages): string {
  const rows = (
    [
      [messages.sourceRole, results.source],
      [messages.targetRole, results.target],
    ] as const
  ).map(([role, record]) => {
    const { family, name, revision, weightsSha256 } = record.identity;
    const cells = [role, family, name, revision].map((value) => `<td>${escapeHtml(value)}</td>`);
    return `<tr>${cells.join('')}<td><code title="${escapeHtml(weightsSha256)}">${escapeHtml(shortHash(weightsSha256))}</code></td></tr>`;
  });
  return ['<table>', `<thead><tr>${messages.backboneColumns.map((column) => `<th scope="col">${escapeHtml(column)}</th>`).join('')}</tr></thead>`, `<tbody>`, ...rows, `</tbody>`, '</table>'].join('\n');
}

function sectionHtml(section: DatasetSection, index: number, messages: ReportMessages): string {
  const withShots = showsShots(section);

  const parts: string[] = ['<section>', `<h2>${escapeHtml(section.dataset)}</h2>`, `<p class="note">${escapeHtml(sectionNotes(section, messages))}</p>`];
  parts.push(resultsTable(section, messages, withShots));

  parts.push(figure(accuracyChart(section, messages, `chart-${index}-accuracy`), messages.chartCaption(messages.accuracyChartTitle(section.dataset))));
  parts.push(figure(retentionChart(section, messages, `chart-${index}-retention`), messages.chartCaption(messages.retentionChartTitle(section.dataset))));

  const label = (row: MethodRow) => messages.methodLabel(row.method, withShots ? row.shots : undefined, 1);

  const worst = section.rows.filter((row) => row.worstClasses.length > 0);
  if (worst.length > 0) {
    parts.push(`<h3>${escapeHtml(messages.worstClassesHeading)}</h3>`);
    parts.push(list(worst.map((row) => `${label(row)}: ${classChangesText(row.worstClasses, messages)}`)));
  }

  const retrained = section.rows.flatMap((row) => {
    const line = retrainText(row, messages);
    return line === undefined ? [] : [`${label(row)}: ${line}`];
  });
  if (retrained.length > 0) parts.push(`<h3>${escapeHtml(messages.retrainHeading)}</h3>`, list(retrained));

  if (section.notTransplanted.length > 0) {
    parts.push(`<h3>${escapeHtml(messages.notTransplantedHeading)}</h3>`, '<ul>');
    for (const cell of section.notTransplanted) {
      const [first, ...rest] = cellReasons(cell, messages);
      const cellLabel = messages.cellLabel(cell.key.method, cell.key.seed, withShots ? cell.key.shots : undefined);
      const details = rest.length > 0 ? list(rest) : '';
      parts.push(`<li>${escapeHtml(cellLabel)}: <strong>${escapeHtml(messages.status(cell.status))}</strong> — ${escapeHtml(first ?? '')}${details}</li>`);
    }
    parts.push('</ul>');
  }

  const decided = section.rows.flatMap((row) => row.cells.filter((cell) => cell.decision !== undefined));
  if (decided.length > 0) {
    parts.push(`<h3>${escapeHtml(messages.decisionsHeading)}</h3>`, '<ul class="decisions">');
    for (const cell of decided) {
      const decision = cell.decision;
      if (decision === undefined) continue;
      const cellLabel = messages.cellLabel(cell.key.method, cell.key.seed, withShots ? cell.key.shots : undefined);
      const { reason, arithmetic } = explainDecision(decision, messages);
      const summary = `${escapeHtml(cellLabel)}: <strong>${escapeHtml(messages.action(decision.action))}</strong> — ${escapeHtml(reason)}`;
      // The arithmetic is folded into <details>, which browsers open and close without any script.
      const body = arithmetic.length > 0 ? `<details><summary>${summary}</summary>${list(arithmetic, 'arithmetic')}</details>` : summary;
      parts.push(`<li>${body}</li>`);
    }
    parts.push('</ul>');
  }

  parts.push('</section>');
  return parts.join('\n');
}

function resultsTable(section: DatasetSection, messages: ReportMessages, withShots: boolean): string {
  const header = messages.columns.map((column) => `<th scope="col">${escapeHtml(column)}</th>`).join('');
  const rows = section.rows.map((row) => {
    const cells = rowCells(row, messages, withShots).map((value, column) => {
      const classes = [
        numericColumns.has(column) ? 'number' : '',
        labelColumns.has(column) ? 'label' : '',
        column === gainColumn && row.gain !== undefined && row.gain.mean < 0 ? 'loss' : '',
      ]
        .filter((name) => name !== '')
        .join(' ');
      const detail = value.detail === undefined ? '' : ` <span class="detail">${escapeHtml(value.detail)}</span>`;
      return `<td${classes === '' ? '' : ` class="${classes}"`}>${escapeHtml(value.main)}${detail}</td>`;
    });
    return `<tr${row.status === 'ok' ? '' : ' class="not-transplanted"'}>${cells.join('')}</tr>`;
  });
  return ['<div class="table-scroll">', '<table>', `<thead><tr>${header}</tr></thead>`, '<tbody>', ...rows, '</tbody>', '</table>', '</div>'].join('\n');
}

/** Renders a label-free section: heading, note and table. */
function textTableHtml(heading: string, table: TextTable): string {
  const header = table.header.map((column) => `<th scope="col">${escapeHtml(column)}</th>`).join('');
  const rows = table.rows.map(
    (row) => `<tr>${row.map((value, column) => `<td${table.numericColumns.has(column) ? ' class="number"' : ''}>${escapeHtml(value)}</td>`).join('')}</tr>`,
  );
  return [
    '<section>',
    `<h2>${escapeHtml(heading)}</h2>`,
    `<p class="note">${escapeHtml(table.note)}</p>`,
    '<div class="table-scroll">',
    '<table>',
    `<thead><tr>${header}</tr></thead>`,
    '<tbody>',
    ...rows,
    '</tbody>',
    '</table>',
    '</div>',
    '</section>',
  ].join('\n');
}

function figure(svg: string, caption: string): string {
  return `<figure>\n${svg}\n<figcaption>${escapeHtml(caption)}</figcaption>\n</figure>`;
}

function list(items: readonly string[], className?: string): string {
  const open = className === undefined ? '<ul>' : `<ul class="${className}">`;
  return [open, ...items.map((item) => `<li>${escapeHtml(item)}</li>`), '</ul>'].join('\n');
}
