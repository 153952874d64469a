import type { CellResult } from '../pipeline/results.js';
import {
  formatPercent,
  formatPercentStatistic,
  formatPoints,
  formatSeconds,
  missingValue,
  percentStatisticParts,
  pointsStatisticParts,
  type FormattedValue,
} from './format.js';
import type { ReportMessages } from './i18n.js';
import type { ClassSummary, DatasetSection, DecisionCount, MethodRow, ReportModel, Statistic } from './model.js';

/**
 * Plain-text pieces that the Markdown and HTML renderers share. Nothing here is escaped: each renderer
 * escapes for its own format.
 */

/** Returns whether rows of a section need their shot count in the method label (the section has several). */
export function showsShots(section: DatasetSection): boolean {
  return section.shots.length > 1;
}

/** Formats the ten cells of a row of a data set table, in the order of {@link ReportMessages.columns}. */
export function rowCells(row: MethodRow, messages: ReportMessages, withShots: boolean): FormattedValue[] {
  const transplanted = row.status === 'ok' ? percentStatisticParts(row.transplantedAccuracy) : { main: messages.status(row.status) };
  return [
    { main: messages.methodLabel(row.method, withShots ? row.shots : undefined, row.seeds.length) },
    { main: messages.kind(row.kind) },
    { main: messages.depth(row.depth) },
    percentStatisticParts(row.sourceAccuracy),
    percentStatisticParts(row.zeroShotAccuracy),
    transplanted,
    percentStatisticParts(row.retention),
    pointsStatisticParts(row.gain),
    percentStatisticParts(row.nfr),
    { main: decisionText(row.decisions, messages) },
  ];
}

/** "reuse" when every decided seed agrees, else each action with its count: "reuse ×2, retrain ×1". */
export function decisionText(decisions: readonly DecisionCount[], messages: ReportMessages): string {
  if (decisions.length === 0) return missingValue;
  const only = decisions[0];
  if (decisions.length === 1 && only !== undefined) return messages.action(only.action);
  return decisions.map((decision) => `${messages.action(decision.action)} ×${decision.count}`).join(messages.listSeparator);
}

/** Why a cell has no transplanted result: one line per preflight mismatch, else the lines of its error. */
export function cellReasons(cell: CellResult, messages: ReportMessages): string[] {
  if (cell.mismatches.length > 0) return cell.mismatches.map((mismatch) => `${mismatch.field}: ${mismatch.message}`);
  const lines = (cell.error ?? '')
    .split('\n')
    .map((line) => line.trim().replace(/^- /, ''))
    .filter((line) => line !== '');
  return lines.length > 0 ? lines : [messages.noReason];
}

/** Lists the classes that changed the most, such as "Highway 90.0% → 70.0% (-20.0 pt); Forest …". */
export function classChangesText(changes: readonly ClassSummary[], messages: ReportMessages): string {
  return changes
    .map((change) => messages.parenthetical(`${change.className} ${formatPercent(change.source)} → ${formatPercent(change.transplanted)}`, formatPoints(change.change)))
    .join(messages.classSeparator);
}

/** Writes the notes under a data set heading: shots and seeds, then how aggregates and intervals are written. */
export function sectionNotes(section: DatasetSection, messages: ReportMessages): string {
  const notes = [messages.datasetIntro(section.shots, section.seeds)];
  if (sectionHasAggregates(section)) notes.push(messages.aggregationNote);
  if (sectionHasIntervals(section)) notes.push(messages.intervalNote);
  return notes.join(messages.sentenceSeparator);
}

/** Writes the retrain reference line of a row, or returns undefined when the row has no retrained accuracy. */
export function retrainText(row: MethodRow, messages: ReportMessages): string | undefined {
  if (row.retrainedAccuracy === undefined) return undefined;
  return messages.retrainLine(
    formatPercentStatistic(row.retrainedAccuracy),
    formatPercentStatistic(row.recovery),
    secondsText(row.retrainSeconds),
    secondsText(row.trainSeconds),
  );
}

function secondsText(statistic: Statistic | undefined): string {
  return statistic === undefined ? missingValue : formatSeconds(statistic.mean);
}

/** Returns whether any value shown in a section's table has a bootstrap interval. */
function sectionHasIntervals(section: DatasetSection): boolean {
  return section.rows.some((row) =>
    [row.sourceAccuracy, row.zeroShotAccuracy, row.transplantedAccuracy, row.retention, row.gain, row.nfr].some(
      (statistic) => statistic?.interval !== undefined && statistic.n === 1,
    ),
  );
}

/** Returns whether any row of a section is a mean over several seeds. */
function sectionHasAggregates(section: DatasetSection): boolean {
  return section.rows.some((row) => row.seeds.length > 1);
}

/** Writes the summary sentences at the top of a report, in order. */
export function summarySentences(model: ReportModel, messages: ReportMessages): string[] {
  const { summary } = model;
  const sentences = [messages.compatible(summary.compatibleRows, summary.transplantedRows)];
  if (summary.incompatibleCells + summary.failedCells > 0) sentences.push(messages.notTransplanted(summary.incompatibleCells, summary.failedCells));

  if (summary.retentionByKind.length > 0) {
    const parts = summary.retentionByKind.map((group) => messages.retentionOfKind(messages.kind(group.kind), formatPercent(group.mean), group.rows));
    sentences.push(messages.retentionByKind(parts));
  }

  if (summary.shallow !== undefined || summary.deep !== undefined) {
    const shallow = summary.shallow === undefined ? undefined : { retention: formatPercent(summary.shallow.mean), rows: summary.shallow.rows };
    const deep = summary.deep === undefined ? undefined : { retention: formatPercent(summary.deep.mean), rows: summary.deep.rows };
    const shallowRetainedMore = summary.shallow !== undefined && summary.deep !== undefined ? summary.shallow.mean > summary.deep.mean : undefined;
    sentences.push(messages.shallowVersusDeep(shallow, deep, shallowRetainedMore));
  }
  if (decidedWithoutPrices(model)) sentences.push(messages.decisionsWithoutPrices);
  return sentences;
}

/** Tells whether cells were decided while every price of the run was 0 (or unset), so that accuracy alone chose. */
function decidedWithoutPrices(model: ReportModel): boolean {
  const { results } = model;
  if (!results.cells.some((cell) => cell.decision !== undefined)) return false;
  // Runs record the config's prices, `{}` when it set none. Results without the field leave the question open.
  const prices = results.settings['prices'];
  if (typeof prices !== 'object' || prices === null) return false;
  return Object.entries(prices).every(([field, value]) => field === 'currency' || value === 0);
}
