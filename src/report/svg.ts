import { escapeHtml } from './format.js';

/** Small helpers for writing inline SVG as text. Every string that reaches the markup is escaped here. */

/** A rectangle in SVG user units, used to keep labels from overlapping. */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Rounds a coordinate to 0.1 user units, so the markup stays short and stable. */
export function round(value: number): string {
  return String(Math.round(value * 10) / 10);
}

/** Attribute text from a record; values are escaped and undefined values left out. */
function attributes(record: Readonly<Record<string, string | number | undefined>>): string {
  return Object.entries(record)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([name, value]) => ` ${name}="${escapeHtml(typeof value === 'number' ? round(value) : value)}"`)
    .join('');
}

/** Writes an empty element such as `<rect …/>`. */
export function element(name: string, record: Readonly<Record<string, string | number | undefined>>): string {
  return `<${name}${attributes(record)}/>`;
}

/** Writes a `<text>` element with escaped content. */
export function text(x: number, y: number, content: string, record: Readonly<Record<string, string | number | undefined>> = {}): string {
  return `<text${attributes({ x, y, ...record })}>${escapeHtml(content)}</text>`;
}

/** Writes a line from (x1, y1) to (x2, y2). */
export function line(x1: number, y1: number, x2: number, y2: number, record: Readonly<Record<string, string | number | undefined>> = {}): string {
  return element('line', { x1, y1, x2, y2, ...record });
}

/** Writes an `<svg>` element sized to its view box, labelled for assistive technology by its `<title>`. */
export function svgDocument(id: string, width: number, height: number, title: string, body: readonly string[]): string {
  return [
    `<svg${attributes({ id, viewBox: `0 0 ${round(width)} ${round(height)}`, width, height, role: 'img', 'aria-labelledby': `${id}-title` })}>`,
    `<title id="${escapeHtml(id)}-title">${escapeHtml(title)}</title>`,
    ...body,
    '</svg>',
  ].join('\n');
}

/**
 * Estimates the width of a label in user units. Full-width characters (CJK, kana) take about one em and
 * others about 0.6 em in common sans-serif fonts. The result guides layout and is not a measurement.
 */
export function estimateTextWidth(content: string, fontSize: number): number {
  let ems = 0;
  for (const character of content) ems += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(character) ? 1 : 0.6;
  return ems * fontSize;
}

/** Returns whether two boxes overlap. */
export function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** Writes a vertical whisker from `top` to `bottom` at `x`, with caps `cap` wide. */
export function whisker(x: number, top: number, bottom: number, cap: number, stroke: string): string[] {
  return [
    line(x, top, x, bottom, { stroke, 'stroke-width': 1.2 }),
    line(x - cap / 2, top, x + cap / 2, top, { stroke, 'stroke-width': 1.2 }),
    line(x - cap / 2, bottom, x + cap / 2, bottom, { stroke, 'stroke-width': 1.2 }),
  ];
}
