import type { ResultsFile } from '../pipeline/results.js';
import { forecastTable, migrationTable, type TextTable } from './forecast.js';
import { escapeMarkdown, joinFormatted, shortHash } from './format.js';
import { explainDecision, messagesFor, type RenderOptions, type ReportMessages } from './i18n.js';
import { buildReportModel, type DatasetSection } from './model.js';
import {
  cellReasons,
  classChangesText,
  rowCells,
  retrainText,
  sectionNotes,
  showsShots,
  summarySentences,
} from './text.js';

/**
 * Renders results as a Markdown report: a summary, the backbones, and a section per data set. Each section
 * has a table of methods, then the classes that changed the most, the retrain reference, the cells that
 * could not be transplanted with their reasons, and the arithmetic behind each decision. Several seeds of a
 * method are shown as mean ± standard deviation. When the cells carry forecasts or label-free migrations,
 * two closing sections set each forecast against the measured retention and compare the migrations.
 */
export function renderMarkdown(results: ResultsFile, options: RenderOptions = {}): string {
  const messages = messagesFor(options.lang ?? 'en');
  const model = buildReportModel(results);

  const lines: string[] = [`# ${messages.title}`, '', escapeMarkdown(messages.generated(results.libraryVersion, results.createdAt)), ''];

  lines.push(`## ${messages.summaryHeading}`, '');
  for (const sentence of summarySentences(model, messages)) lines.push(`- ${escapeMarkdown(sentence)}`);
  lines.push('');
  for (const entry of messages.glossary) lines.push(`- ${escapeMarkdown(entry)}`);
  lines.push('');

  lines.push(`### ${messages.backbonesHeading}`, '');
  lines.push(tableRow(messages.backboneColumns.map(escapeMarkdown)), tableRule(messages.backboneColumns.length));
  for (const [role, record] of [
    [messages.sourceRole, results.source],
    [messages.targetRole, results.target],
  ] as const) {
    const { family, name, revision, weightsSha256 } = record.identity;
    lines.push(tableRow([...[role, family, name, revision].map(escapeMarkdown), `\`${escapeCode(shortHash(weightsSha256))}\``]));
  }
  lines.push('');

  for (const section of model.datasets) lines.push(...sectionLines(section, messages));
  for (const [heading, table] of [
    [messages.forecastHeading, forecastTable(results, messages)],
    [messages.migrationHeading, migrationTable(results, messages)],
  ] as const) {
    if (table !== undefined) lines.push(...textTableLines(heading, table));
  }
  return lines.join('\n');
}

/** Renders a label-free section: heading, note and table. */
function textTableLines(heading: string, table: TextTable): string[] {
  return [
    `## ${escapeMarkdown(heading)}`,
    '',
    escapeMarkdown(table.note),
    '',
    tableRow(table.header.map(escapeMarkdown)),
    tableRule(table.header.length, table.numericColumns),
    ...table.rows.map((row) => tableRow(row.map(escapeMarkdown))),
    '',
  ];
}

function sectionLines(section: DatasetSection, messages: ReportMessages): string[] {
  const withShots = showsShots(section);

  const lines = [`## ${escapeMarkdown(section.dataset)}`, '', escapeMarkdown(sectionNotes(section, messages)), ''];
  lines.push(tableRow(messages.columns.map(escapeMarkdown)), tableRule(messages.columns.length, numericColumns));
  for (const row of section.rows) lines.push(tableRow(rowCells(row, messages, withShots).map((cell) => escapeMarkdown(joinFormatted(cell)))));
  lines.push('');

  const label = (row: (typeof section.rows)[number]) => escapeMarkdown(messages.methodLabel(row.method, withShots ? row.shots : undefined, 1));

  const worst = section.rows.filter((row) => row.worstClasses.length > 0);
  if (worst.length > 0) {
    lines.push(`**${messages.worstClassesHeading}**`, '');
    for (const row of worst) lines.push(`- ${label(row)}: ${escapeMarkdown(classChangesText(row.worstClasses, messages))}`);
    lines.push('');
  }

  const retrained = section.rows.flatMap((row) => {
    const text = retrainText(row, messages);
    return text === undefined ? [] : [`- ${label(row)}: ${escapeMarkdown(text)}`];
  });
  if (retrained.length > 0) lines.push(`**${messages.retrainHeading}**`, '', ...retrained, '');

  if (section.notTransplanted.length > 0) {
    lines.push(`**${messages.notTransplantedHeading}**`, '');
    for (const cell of section.notTransplanted) {
      const [first, ...rest] = cellReasons(cell, messages);
      const cellLabel = escapeMarkdown(messages.cellLabel(cell.key.method, cell.key.seed, withShots ? cell.key.shots : undefined));
      lines.push(`- ${cellLabel}: **${escapeMarkdown(messages.status(cell.status))}** — ${escapeMarkdown(first ?? '')}`);
      for (const reason of rest) lines.push(`  - ${escapeMarkdown(reason)}`);
    }
    lines.push('');
  }

  const decided = section.rows.flatMap((row) => row.cells.filter((cell) => cell.decision !== undefined));
  if (decided.length > 0) {
    lines.push(`**${messages.decisionsHeading}**`, '');
    for (const cell of decided) {
      const decision = cell.decision;
      if (decision === undefined) continue;
      const cellLabel = escapeMarkdown(messages.cellLabel(cell.key.method, cell.key.seed, withShots ? cell.key.shots : undefined));
      const { reason, arithmetic } = explainDecision(decision, messages);
      lines.push(`- ${cellLabel}: **${escapeMarkdown(messages.action(decision.action))}** — ${escapeMarkdown(reason)}`);
      for (const step of arithmetic) lines.push(`  - ${escapeMarkdown(step)}`);
    }
    lines.push('');
  }
  return lines;
}

function tableRow(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

/** Builds the rule under a table header, right-aligning the columns whose index is in `rightAligned`. */
function tableRule(columns: number, rightAligned: ReadonlySet<number> = new Set()): string {
  return tableRow(Array.from({ length: columns }, (_, i) => (rightAligned.has(i) ? '---:' : '---')));
}

/** Columns of a data set table that hold numbers: the three accuracies, retention, gain and NFR. */
const numericColumns: ReadonlySet<number> = new Set([3, 4, 5, 6, 7, 8]);

/** Hex digits need no escaping inside a code span, but a backtick from a hand-edited file would end it. */
function escapeCode(text: string): string {
  return text.replace(/`/g, "'");
}
