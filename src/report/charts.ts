import { depthOrder, type ModuleKind } from '../adapters/types.js';
import type { ReportMessages } from './i18n.js';
import { kindOrder, type DatasetSection, type MethodRow, type Statistic } from './model.js';
import { element, estimateTextWidth, line, overlaps, round, svgDocument, text, whisker, type Box } from './svg.js';
import { showsShots } from './text.js';

/** Colours of the three accuracy series: source + module, target zero-shot, target + transplanted. */
const seriesColors = ['#4e79a7', '#a0a0a0', '#f28e2b'] as const;

/** Colour of each module kind on the retention chart. */
const kindColors: Record<ModuleKind, string> = { prompt: '#4e79a7', adapter: '#f28e2b', lora: '#59a14f', deep: '#e15759', probe: '#b07aa1' };

const axisColor = '#444';
const gridColor = '#ddd';
const mutedColor = '#777';
const fontSize = 11;

/** Lower and upper end of a whisker: mean ± std over seeds, else the single seed's bootstrap interval. */
function whiskerRange(statistic: Statistic | undefined): [number, number] | undefined {
  if (statistic === undefined || !Number.isFinite(statistic.mean)) return undefined;
  if (statistic.n > 1) return [statistic.mean - statistic.std, statistic.mean + statistic.std];
  if (statistic.interval !== undefined) return [statistic.interval[0], statistic.interval[1]];
  return undefined;
}

function rowLabel(row: MethodRow, messages: ReportMessages, withShots: boolean): string {
  const label = messages.methodLabel(row.method, withShots ? row.shots : undefined, 1);
  return row.status === 'ok' ? label : `${label} (${messages.status(row.status)})`;
}

/** A horizontal legend of coloured squares and labels starting at (x, y); returns the markup. */
function legend(x: number, y: number, entries: ReadonlyArray<{ label: string; color: string }>): string[] {
  const parts: string[] = [];
  let at = x;
  for (const entry of entries) {
    parts.push(element('rect', { x: at, y: y - 9, width: 10, height: 10, fill: entry.color }));
    parts.push(text(at + 14, y, entry.label, { 'font-size': fontSize }));
    at += 14 + estimateTextWidth(entry.label, fontSize) + 16;
  }
  return parts;
}

function legendWidth(labels: readonly string[]): number {
  return labels.reduce((sum, label) => sum + 14 + estimateTextWidth(label, fontSize) + 16, 0);
}

/** Horizontal grid lines with tick labels from 0 to `max` percent every `step`, and the rotated y axis title. */
function yAxis(left: number, right: number, top: number, bottom: number, max: number, step: number, title: string): string[] {
  const parts: string[] = [];
  const y = (percent: number) => bottom - ((bottom - top) * percent) / max;
  for (let percent = 0; percent <= max; percent += step) {
    parts.push(line(left, y(percent), right, y(percent), { stroke: percent === 0 ? axisColor : gridColor }));
    parts.push(text(left - 6, y(percent) + 4, String(percent), { 'font-size': fontSize, 'text-anchor': 'end' }));
  }
  const middle = (top + bottom) / 2;
  parts.push(text(14, middle, title, { 'font-size': fontSize, 'text-anchor': 'middle', transform: `rotate(-90 14 ${round(middle)})` }));
  return parts;
}

/**
 * Draws grouped bars of the three accuracies (source + module, target zero-shot, target + transplanted)
 * of each method of a data set, with whiskers, value labels, a y axis in percent and a legend. A missing
 * accuracy is marked with the "not available" label instead of a bar.
 */
export function accuracyChart(section: DatasetSection, messages: ReportMessages, id: string): string {
  const withShots = showsShots(section);
  const barWidth = 26;
  const barGap = 3;
  const groupWidth = 3 * barWidth + 2 * barGap + 36;
  const labels = section.rows.map((row) => rowLabel(row, messages, withShots));
  const widestLabel = Math.max(0, ...labels.map((label) => estimateTextWidth(label, fontSize)));
  const rotate = widestLabel > groupWidth - 8;

  // Labels rotated by 30° reach 0.87 of their width to the left of the first group's center and half their
  // width below the axis, so the margins grow to keep them inside the view box.
  const firstLabelOffset = 18 + (3 * barWidth + 2 * barGap) / 2;
  const left = rotate ? Math.max(56, Math.ceil(widestLabel * 0.87 - firstLabelOffset + 4)) : 56;
  const top = 40;
  const plotHeight = 220;
  const plotWidth = Math.max(section.rows.length * groupWidth, legendWidth(messages.seriesLabels));
  const labelDepth = rotate ? widestLabel * 0.5 + 16 : 18;
  const bottom = top + plotHeight;
  const width = left + plotWidth + 16;
  const height = bottom + labelDepth + 12;
  const y = (fraction: number) => bottom - plotHeight * Math.min(Math.max(fraction, 0), 1);

  const body: string[] = [];
  body.push(...legend(left, 20, messages.seriesLabels.map((label, i) => ({ label, color: seriesColors[i] ?? axisColor }))));
  body.push(...yAxis(left, left + plotWidth, top, bottom, 100, 20, messages.accuracyAxis));

  section.rows.forEach((row, index) => {
    const groupLeft = left + index * groupWidth + 18;
    const statistics = [row.sourceAccuracy, row.zeroShotAccuracy, row.status === 'ok' ? row.transplantedAccuracy : undefined];
    statistics.forEach((statistic, series) => {
      const x = groupLeft + series * (barWidth + barGap);
      const center = x + barWidth / 2;
      if (statistic === undefined || !Number.isFinite(statistic.mean)) {
        body.push(text(center, bottom - 4, messages.notAvailable, { 'font-size': 9, 'text-anchor': 'middle', fill: mutedColor }));
        return;
      }
      body.push(element('rect', { x, y: y(statistic.mean), width: barWidth, height: bottom - y(statistic.mean), fill: seriesColors[series] }));
      const range = whiskerRange(statistic);
      if (range !== undefined) body.push(...whisker(center, y(range[1]), y(range[0]), 8, axisColor));
      const labelTop = Math.min(y(statistic.mean), range === undefined ? Infinity : y(range[1]));
      body.push(text(center, labelTop - 3, (statistic.mean * 100).toFixed(1), { 'font-size': 9, 'text-anchor': 'middle' }));
    });

    const labelX = left + index * groupWidth + firstLabelOffset;
    const label = labels[index] ?? '';
    if (rotate) {
      body.push(text(labelX, bottom + 14, label, { 'font-size': fontSize, 'text-anchor': 'end', transform: `rotate(-30 ${round(labelX)} ${round(bottom + 14)})` }));
    } else {
      body.push(text(labelX, bottom + 16, label, { 'font-size': fontSize, 'text-anchor': 'middle' }));
    }
  });

  return svgDocument(id, width, height, messages.accuracyChartTitle(section.dataset), body);
}

/** A point of the retention chart: a transplanted row, or a row without retention drawn on the x axis. */
interface RetentionPoint {
  readonly row: MethodRow;
  readonly x: number;
  readonly y: number;
  readonly label: string;
  readonly transplanted: boolean;
}

/**
 * Draws retention (y, percent) against attachment depth (x, the categories of `depthOrder` from shallow to
 * deep) with one point per method, coloured by module kind and labelled with the method name. A dashed
 * line marks 100% (as accurate as on the source). Methods without a retention, such as incompatible ones,
 * are drawn as a cross on the x axis with their status, so that no method disappears from the chart.
 */
export function retentionChart(section: DatasetSection, messages: ReportMessages, id: string): string {
  const withShots = showsShots(section);
  const categoryWidth = 130;
  const left = 56;
  const top = 40;
  const plotHeight = 220;
  const plotWidth = depthOrder.length * categoryWidth;
  const bottom = top + plotHeight;
  const width = left + plotWidth + 16;
  const height = bottom + 52;

  const highest = Math.max(1, ...section.rows.map((row) => whiskerRange(row.retention)?.[1] ?? row.retention?.mean ?? 0));
  const maxPercent = Math.max(100, Math.ceil((highest * 100 + 5) / 20) * 20);
  const y = (ratio: number) => bottom - (plotHeight * Math.max(ratio * 100, 0)) / maxPercent;
  const categoryCenter = (index: number) => left + (index + 0.5) * categoryWidth;

  const kinds = kindOrder.filter((kind) => section.rows.some((row) => row.kind === kind));
  const body: string[] = [];
  body.push(...legend(left, 20, kinds.map((kind) => ({ label: messages.kind(kind), color: kindColors[kind] }))));
  body.push(...yAxis(left, left + plotWidth, top, bottom, maxPercent, 20, messages.retentionAxis));
  depthOrder.forEach((depth, index) => {
    body.push(line(categoryCenter(index), bottom, categoryCenter(index), bottom + 4, { stroke: axisColor }));
    body.push(text(categoryCenter(index), bottom + 17, messages.depth(depth), { 'font-size': fontSize, 'text-anchor': 'middle' }));
  });
  body.push(text(left + plotWidth / 2, bottom + 40, messages.depthAxis, { 'font-size': fontSize, 'text-anchor': 'middle' }));

  const reference = y(1);
  body.push(line(left, reference, left + plotWidth, reference, { stroke: mutedColor, 'stroke-dasharray': '4 3' }));
  const referenceLabel = messages.sameAsSource;
  const referenceBox: Box = { x: left + plotWidth - 4 - estimateTextWidth(referenceLabel, 10), y: reference - 14, width: estimateTextWidth(referenceLabel, 10), height: 12 };
  body.push(text(left + plotWidth - 4, reference - 4, referenceLabel, { 'font-size': 10, 'text-anchor': 'end', fill: mutedColor }));

  const points = retentionPoints(section.rows, messages, withShots, categoryCenter, y, bottom);
  for (const point of points) {
    const color = kindColors[point.row.kind];
    if (!point.transplanted) {
      body.push(line(point.x - 4, point.y - 4, point.x + 4, point.y + 4, { stroke: color, 'stroke-width': 2 }));
      body.push(line(point.x - 4, point.y + 4, point.x + 4, point.y - 4, { stroke: color, 'stroke-width': 2 }));
      continue;
    }
    const range = whiskerRange(point.row.retention);
    if (range !== undefined) body.push(...whisker(point.x, y(range[1]), y(range[0]), 6, color));
    body.push(element('circle', { cx: point.x, cy: point.y, r: 4.5, fill: color }));
  }
  const referenceLine: Box = { x: left, y: reference - 1, width: plotWidth, height: 2 };
  body.push(...placeLabels(points, [referenceBox, referenceLine], { x: 0, y: top - 6, width, height: bottom - top + 6 }));

  return svgDocument(id, width, height, messages.retentionChartTitle(section.dataset), body);
}

/** Positions one point per row; rows sharing a depth are spread a little sideways so they do not hide each other. */
function retentionPoints(
  rows: readonly MethodRow[],
  messages: ReportMessages,
  withShots: boolean,
  categoryCenter: (index: number) => number,
  y: (ratio: number) => number,
  bottom: number,
): RetentionPoint[] {
  const points: RetentionPoint[] = [];
  depthOrder.forEach((depth, index) => {
    const atDepth = rows.filter((row) => row.depth === depth);
    atDepth.forEach((row, position) => {
      const x = categoryCenter(index) + (position - (atDepth.length - 1) / 2) * 14;
      const retention = row.status === 'ok' ? row.retention : undefined;
      const transplanted = retention !== undefined && Number.isFinite(retention.mean);
      points.push({ row, x, y: transplanted ? y(retention.mean) : bottom, label: rowLabel(row, messages, withShots), transplanted });
    });
  });
  return points;
}

/**
 * Places each point's label above it, below it, or further away in steps of one line, taking the first
 * spot that overlaps neither an earlier label, a point nor `avoid`, and stays inside `bounds`.
 */
function placeLabels(points: readonly RetentionPoint[], avoid: readonly Box[], bounds: Box): string[] {
  const lineHeight = 12;
  const taken: Box[] = [...avoid, ...points.map((point) => ({ x: point.x - 5, y: point.y - 5, width: 10, height: 10 }))];
  const parts: string[] = [];
  for (const point of points) {
    const width = estimateTextWidth(point.label, fontSize);
    const offsets = [-8, 17, -8 - lineHeight, 17 + lineHeight, -8 - 2 * lineHeight, 17 + 2 * lineHeight, -8 - 3 * lineHeight];
    const candidates = offsets.map((offset) => ({ baseline: point.y + offset, box: { x: point.x - width / 2, y: point.y + offset - 10, width, height: lineHeight } }));
    const inside = (box: Box) => box.x >= bounds.x && box.x + box.width <= bounds.x + bounds.width && box.y >= bounds.y && box.y + box.height <= bounds.y + bounds.height;
    const chosen = candidates.find((candidate) => inside(candidate.box) && !taken.some((box) => overlaps(box, candidate.box))) ?? candidates[0];
    if (chosen === undefined) continue;
    taken.push(chosen.box);
    parts.push(text(point.x, chosen.baseline, point.label, { 'font-size': fontSize, 'text-anchor': 'middle' }));
  }
  return parts;
}
