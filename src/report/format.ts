import type { Statistic } from './model.js';

/** Placeholder shown where a value is missing or undefined (NaN). */
export const missingValue = '—';

function fixed(value: number): string {
  return value.toFixed(1);
}

function signed(value: number): string {
  return value >= 0 ? `+${fixed(value)}` : fixed(value);
}

/** Formats a fraction (0..1) as a percentage with one decimal: 0.7125 → "71.3%". */
export function formatPercent(value: number): string {
  return Number.isFinite(value) ? `${fixed(value * 100)}%` : missingValue;
}

/** A formatted value split into the value itself and its spread or interval, which HTML shows smaller. */
export interface FormattedValue {
  readonly main: string;
  /** "± 1.3" for a mean over seeds, "(68.0–74.1)" for a bootstrap interval. */
  readonly detail?: string;
}

/** Joins a formatted value into one string: "71.2% (68.0–74.1)". */
export function joinFormatted(value: FormattedValue): string {
  return value.detail === undefined ? value.main : `${value.main} ${value.detail}`;
}

/**
 * Formats a statistic whose values are fractions or ratios as a percentage: "71.2%" for one value,
 * "71.2% (68.0–74.1)" with a bootstrap interval, "71.2% ± 1.3" for a mean over several seeds (the spread
 * is the sample standard deviation, in percentage points).
 */
export function percentStatisticParts(statistic: Statistic | undefined): FormattedValue {
  if (statistic === undefined || !Number.isFinite(statistic.mean)) return { main: missingValue };
  const main = formatPercent(statistic.mean);
  if (statistic.n > 1) return { main, detail: `± ${fixed(statistic.std * 100)}` };
  if (statistic.interval !== undefined) return { main, detail: `(${fixed(statistic.interval[0] * 100)}–${fixed(statistic.interval[1] * 100)})` };
  return { main };
}

/**
 * Formats a statistic whose values are fractions or ratios as a percentage: "71.2%" for one value,
 * "71.2% (68.0–74.1)" with a bootstrap interval, "71.2% ± 1.3" for a mean over several seeds (the spread is
 * the sample standard deviation, in percentage points). Returns "—" when the statistic is missing or NaN.
 */
export function formatPercentStatistic(statistic: Statistic | undefined): string {
  return joinFormatted(percentStatisticParts(statistic));
}

/**
 * Formats a statistic of accuracy differences, stored as fractions, in accuracy points with a sign:
 * "+3.1 pt", "+3.1 pt (-0.4–+6.2)" with an interval, "+3.1 pt ± 0.8" for a mean over seeds.
 */
export function pointsStatisticParts(statistic: Statistic | undefined): FormattedValue {
  if (statistic === undefined || !Number.isFinite(statistic.mean)) return { main: missingValue };
  const main = `${signed(statistic.mean * 100)} pt`;
  if (statistic.n > 1) return { main, detail: `± ${fixed(statistic.std * 100)}` };
  if (statistic.interval !== undefined) return { main, detail: `(${signed(statistic.interval[0] * 100)}–${signed(statistic.interval[1] * 100)})` };
  return { main };
}

/**
 * Formats a statistic of accuracy differences, stored as fractions, in signed accuracy points: "+3.1 pt",
 * "+3.1 pt (-0.4–+6.2)" with a bootstrap interval, "+3.1 pt ± 0.8" for a mean over several seeds. Returns "—"
 * when the statistic is missing or NaN.
 */
export function formatPointsStatistic(statistic: Statistic | undefined): string {
  return joinFormatted(pointsStatisticParts(statistic));
}

/** Formats an accuracy difference stored as a fraction in signed accuracy points: −0.125 → "-12.5 pt". */
export function formatPoints(value: number): string {
  return Number.isFinite(value) ? `${signed(value * 100)} pt` : missingValue;
}

/** Formats seconds of wall time: "12.4 s", "3.2 min" or "1.5 h". */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return missingValue;
  if (seconds < 120) return `${fixed(seconds)} s`;
  if (seconds < 7200) return `${fixed(seconds / 60)} min`;
  return `${fixed(seconds / 3600)} h`;
}

/** Returns the first 12 hex digits of a SHA-256, the short form shown in reports. */
export function shortHash(sha256: string): string {
  return sha256.slice(0, 12);
}

/** Escapes text for HTML element content and for double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/**
 * Escapes text for Markdown, inside or outside a table cell: Markdown punctuation gets a backslash, `<`, `>`
 * and `&` become entities so that no HTML is injected, and line breaks become spaces.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/\r?\n/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]|#])/g, '\\$1');
}
