#!/usr/bin/env node
// Prints the Markdown table README.md shows for the bundled pair. For each module it gives the accuracy of
// every condition (source + module, target zero-shot, transplanted, bridged, distilled, retrained), averaged
// over the cells of one or more results.json files. It then prints the forecast's rank correlation with the
// measured retention.
//
//   node scripts/emoji/migration-table.mjs RESULTS.json [RESULTS.json ...]
import { readFile } from 'node:fs/promises';
import { spearmanCorrelation, summarizeForecasts, validateResults } from 'vlm-compat';

const conditions = [
  ['source-module', 'source + module'],
  ['target-zero-shot', 'target zero-shot'],
  ['target-transplanted', 'transplanted'],
  ['target-bridged', 'bridged'],
  ['target-distilled', 'distilled'],
  ['target-retrained', 'retrained'],
];

const paths = process.argv.slice(2);
if (paths.length === 0) {
  console.error('Usage: node scripts/emoji/migration-table.mjs RESULTS.json [RESULTS.json ...]');
  process.exit(2);
}

const files = [];
for (const path of paths) files.push(validateResults(JSON.parse(await readFile(path, 'utf8'))));
const cells = files.flatMap((file) => file.cells.filter((cell) => cell.status === 'ok'));
const methods = [...new Set(cells.map((cell) => cell.key.method))];
const percent = (x) => (x === undefined ? '—' : `${(100 * x).toFixed(1)}%`);
const share = (part, whole) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : 'not timed');
const mean = (values) => (values.length === 0 ? undefined : values.reduce((sum, v) => sum + v, 0) / values.length);

console.log(`| method | cells | ${conditions.map(([, label]) => label).join(' | ')} |`);
console.log(`|---|---:|${conditions.map(() => '---:').join('|')}|`);
for (const method of methods) {
  const own = cells.filter((cell) => cell.key.method === method);
  const values = conditions.map(([name]) => {
    const measured = own.map((cell) => cell.conditions[name]?.accuracy).filter((a) => a !== undefined && Number.isFinite(a));
    // A migration recorded as not applicable has no condition at all.
    if (measured.length === 0) return 'does not apply';
    if (measured.length === own.length) return percent(mean(measured));
    return `${percent(mean(measured))} (${measured.length} cells)`;
  });
  console.log(`| ${method} | ${own.length} | ${values.join(' | ')} |`);
}

const forecasts = files.map((file) => summarizeForecasts(file)).filter((s) => s !== undefined);
const rows = forecasts.flatMap((s) => s.rows);
if (rows.length > 0) {
  const rho = spearmanCorrelation(rows.map((r) => r.predicted), rows.map((r) => r.measured));
  const inside = rows.filter((r) => r.inside).length;
  const forecastSeconds = rows.reduce((sum, r) => sum + r.seconds, 0);
  const evaluationSeconds = rows.reduce((sum, r) => sum + (r.evaluationSeconds ?? 0), 0);
  console.log(`\nforecast: ${rows.length} cells, Spearman ${rho === undefined ? 'undefined' : rho.toFixed(2)}, ${inside} inside the interval, ` +
    `forecast ${forecastSeconds.toFixed(1)} s against ${evaluationSeconds.toFixed(1)} s of zero-shot + transplanted prediction (${share(forecastSeconds, evaluationSeconds)})`);
  for (const dataset of [...new Set(rows.map((r) => r.dataset))]) {
    const own = rows.filter((r) => r.dataset === dataset);
    const ownRho = spearmanCorrelation(own.map((r) => r.predicted), own.map((r) => r.measured));
    const f = own.reduce((sum, r) => sum + r.seconds, 0);
    const e = own.reduce((sum, r) => sum + (r.evaluationSeconds ?? 0), 0);
    console.log(`  ${dataset}: ${own.length} cells, Spearman ${ownRho === undefined ? 'undefined' : ownRho.toFixed(2)}, forecast cost ${share(f, e)}`);
  }
}
