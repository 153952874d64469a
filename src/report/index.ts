/**
 * Renderers for results.json: a validator with path-based errors, Markdown and self-contained HTML
 * reports in English or Japanese, and canonical JSON.
 */
export {
  validateResults,
  ResultsValidationError,
  resultsFileCodec,
  cellResultCodec,
  metricValueCodec,
  backboneRecordCodec,
  type ResultsIssue,
} from './schema.js';
export { renderMarkdown } from './markdown.js';
export { renderHtml } from './html.js';
export { renderJson } from './json.js';
export { accuracyChart, retentionChart } from './charts.js';
export { messagesFor, reportLanguages, type GroupText, type RenderOptions, type ReportLanguage, type ReportMessages } from './i18n.js';
export {
  buildReportModel,
  kindOrder,
  shallowDepth,
  type ClassSummary,
  type DatasetSection,
  type DecisionCount,
  type GroupRetention,
  type MethodRow,
  type ReportModel,
  type ReportSummary,
  type Statistic,
} from './model.js';
export {
  escapeHtml,
  escapeMarkdown,
  formatPercent,
  formatPercentStatistic,
  formatPoints,
  formatPointsStatistic,
  shortHash,
} from './format.js';
export {
  forecastTable,
  migrationRows,
  migrationTable,
  spearmanCorrelation,
  summarizeForecasts,
  type ForecastRow,
  type ForecastSummary,
  type MigrationRow,
  type TextTable,
} from './forecast.js';
