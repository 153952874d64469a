#!/usr/bin/env node
// Refits the coefficients of the compatibility forecast from results.json files whose cells carry forecast
// evidence (evaluate-transfer run with unlabeled images) and measured retention, and writes them as the
// JSON that forecastCompatibility reads. Needs a build that exports the forecast API (npm run build).
//
//   node scripts/fit-forecast.mjs results.json [more-results.json ...] [--out src/forecast/coefficients.json]
//        [--ridge 0.1] [--level 0.95] [--min-source-accuracy 0] [--note "what the data is"]

import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { designRow, fitForecastCoefficients, forecastFeatureNames, forecastRowsFromResults, predictRetention, spearmanCorrelation } from 'vlm-compat';

const usage = `Usage: node scripts/fit-forecast.mjs RESULTS.json [RESULTS.json ...] [options]

Options:
  --out FILE     where to write the coefficients (default: print them)
  --ridge L      ridge strength on every weight but the intercept (default 0.1)
  --level P      coverage of the prediction interval, between 0 and 1 (default 0.95)
  --min-source-accuracy A
                 leave out cells whose source + module accuracy (0 to 1) is below A, where retention
                 is a ratio of two small, noisy numbers (default 0: keep every cell)
  --note TEXT    what the results are and how far the fit can be trusted; stored in the file
  --cross-validate
                 also refit once per backbone pair and data set with that group left out, predict the
                 left-out cells and print how well those out-of-sample forecasts rank the measurements`;

function parseNumber(name, text, fallback) {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`--${name} ${JSON.stringify(text)} is not a number`);
  return value;
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      ridge: { type: 'string' },
      level: { type: 'string' },
      'min-source-accuracy': { type: 'string' },
      note: { type: 'string' },
      'cross-validate': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help || positionals.length === 0) {
    console.log(usage);
    process.exitCode = values.help ? 0 : 2;
    return;
  }

  const minSourceAccuracy = parseNumber('min-source-accuracy', values['min-source-accuracy'], 0);
  const rows = [];
  for (const path of positionals) {
    let json;
    try {
      json = JSON.parse(await readFile(path, 'utf8'));
    } catch (error) {
      throw new Error(`could not read ${path}: ${error.message}`);
    }
    const found = forecastRowsFromResults(json, path, { minSourceAccuracy });
    rows.push(...found.rows);
    const { notOk, noForecast, undefinedValues, lowSourceAccuracy, plainCka } = found.skipped;
    console.log(
      `${path}: ${found.rows.length} cells used; skipped ${notOk} not ok, ${noForecast} without forecast evidence, ` +
        `${undefinedValues} with an undefined retention or measurement, ${lowSourceAccuracy} with source accuracy below ${minSourceAccuracy}, ` +
        `${plainCka} with plain CKA (rerun them with this version)`,
    );
  }

  const note = values.note ?? `fitted by scripts/fit-forecast.mjs on ${positionals.join(', ')}`;
  const settings = { ridge: parseNumber('ridge', values.ridge, 0.1), level: parseNumber('level', values.level, 0.95), note };
  const coefficients = fitForecastCoefficients(rows, settings);
  if (values['cross-validate']) crossValidate(rows, settings);

  const fitted = rows.map((row) => designRow(row).reduce((sum, value, i) => sum + value * coefficients.weights[i], 0));
  const meanRetention = rows.reduce((sum, row) => sum + row.retention, 0) / rows.length;
  const total = rows.reduce((sum, row) => sum + (row.retention - meanRetention) ** 2, 0);
  const residual = rows.reduce((sum, row, i) => sum + (row.retention - fitted[i]) ** 2, 0);
  console.log(`fitted ${rows.length} cells from ${coefficients.fittedOn.backbonePairs.join('; ')}`);
  forecastFeatureNames.forEach((name, i) => console.log(`  ${name.padEnd(20)} ${coefficients.weights[i].toFixed(4)}`));
  console.log(`  residual std ${coefficients.residualStd.toFixed(4)}, in-sample R² ${total > 0 ? (1 - residual / total).toFixed(3) : 'undefined (constant retention)'}`);

  const text = JSON.stringify(coefficients, null, 2) + '\n';
  if (values.out === undefined) console.log(text);
  else {
    await writeFile(values.out, text);
    console.log(`wrote ${values.out}`);
  }
}

/**
 * Leave-one-group-out cross-validation, a group being one backbone pair on one data set: every cell is
 * predicted by coefficients fitted without its group. Prints Spearman's rank correlation, the mean absolute
 * error and the interval coverage of those predictions, over all cells and per group.
 */
function crossValidate(rows, settings) {
  const groupOf = (row) => `${row.backbonePair} / ${row.dataset}`;
  const groups = [...new Set(rows.map(groupOf))];
  if (groups.length < 2) throw new Error(`--cross-validate needs cells from at least 2 backbone pair and data set groups, got ${groups.length}`);
  const heldOut = [];
  for (const group of groups) {
    const coefficients = fitForecastCoefficients(rows.filter((row) => groupOf(row) !== group), settings);
    for (const row of rows.filter((r) => groupOf(r) === group)) heldOut.push({ group, row, prediction: predictRetention(coefficients, row) });
  }
  const summarize = (items) => {
    const rho = spearmanCorrelation(items.map((i) => i.prediction.predictedRetention), items.map((i) => i.row.retention));
    const mae = items.reduce((sum, i) => sum + Math.abs(i.row.retention - i.prediction.predictedRetention), 0) / items.length;
    const inside = items.filter((i) => i.row.retention >= i.prediction.interval[0] && i.row.retention <= i.prediction.interval[1]).length;
    return `${items.length} cells, Spearman ${rho === undefined ? 'undefined' : rho.toFixed(3)}, mean absolute error ${mae.toFixed(3)}, ${inside} inside the interval`;
  };
  console.log(`leave-one-group-out: ${summarize(heldOut)}`);
  for (const group of groups) console.log(`  ${group}: ${summarize(heldOut.filter((i) => i.group === group))}`);
}

main().catch((error) => {
  console.error(`fit-forecast: ${error.message}`);
  process.exitCode = 1;
});
