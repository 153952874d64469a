// Turns the benchmark results into summary rows (with the ratio to PyTorch) and a plain-text table.

const measurements = [
  { key: 'textForwardBackward', label: 'text forward+backward', pick: (r) => r.text.forwardBackward, items: (r) => r.text.tokens.prompts },
  { key: 'textForward', label: 'text forward', pick: (r) => r.text.forward, items: (r) => r.text.tokens.prompts },
  { key: 'imageForward', label: 'image forward', pick: (r) => r.image.forward, items: (r) => r.image.images },
];

const torchPick = {
  textForwardBackward: (t) => t.text.forwardBackward,
  textForward: (t) => t.text.forward,
  imageForward: (t) => t.image.forward,
};

const matMulVariants = [
  ['libraryMatMul', 'vlm-compat matMul: explicit transposes, computes dx and dW (default path)'],
  ['tfMatMul', 'tf.matMul, tfjs gradient: transposeB, computes dx only'],
  ['tfMatMulTransposeB', 'tf.matMul(x, W[out,in], transposeB), tfjs gradient, dx only'],
  ['tfMatMulWithWeightGradient', 'tf.matMul, tfjs gradient, computes dx and dW'],
  ['explicitTransposeInputGradientOnly', 'explicit transpose, computes dx only (benchmark-local)'],
];

/**
 * Returns one row per backend and measurement: the median in ms, the median per prompt or image, and,
 * when PyTorch ran the same batch, its median and the ratio vlm-compat ms / torch ms (above 1 = slower).
 */
export function summarize(report) {
  const rows = [];
  for (const result of report.backends) {
    if (result.error !== undefined) continue;
    const torch = report.torch.runs?.find(
      (t) => t.error === undefined && t.prompts === result.text.tokens.prompts && t.images === result.image.images,
    );
    for (const m of measurements) {
      const timing = m.pick(result);
      const torchMs = torch === undefined ? undefined : torchPick[m.key](torch).medianMs;
      rows.push({
        backend: result.backend,
        measurement: m.key,
        items: m.items(result),
        reducedBatch: result.reduced,
        medianMs: timing.medianMs,
        perItemMs: timing.medianMs / m.items(result),
        torchMs,
        ratioToTorch: torchMs === undefined ? undefined : timing.medianMs / torchMs,
      });
    }
  }
  return rows;
}

function formatMs(ms) {
  if (ms === undefined) return '-';
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}

/** Lays out `rows` (arrays of strings) as columns; the first row is the header. */
function table(rows) {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  const line = (row) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function headerLines(report) {
  const { machine, prompt } = report;
  const lines = [
    `vlm-compat ${report.vlmCompat} benchmark, ${report.date}`,
    `${report.model.name}; QuickGELU; float32`,
    `machine: ${machine.cores} cores (${machine.cpu}), ${machine.platform}, node ${machine.node}; ` +
      `1-minute load average ${machine.loadAverage.start.toFixed(1)} at the start, ${machine.loadAverage.end.toFixed(1)} at the end; ` +
      `run took ${report.durationSeconds.toFixed(0)} s`,
    `prompt: "${prompt.template}", the ${prompt.contextTokens} X tokens replaced by a learned context; gradient w.r.t. the context`,
  ];
  const busiest = Math.max(machine.loadAverage.start, machine.loadAverage.end);
  if (busiest > machine.cores / 2) {
    lines.push(
      `WARNING: other processes kept the machine busy (load average up to ${busiest.toFixed(1)} on ${machine.cores} cores), ` +
        'so these timings are inflated and the ratios to torch unreliable; rerun on an idle machine',
    );
  }
  const torch = report.torch;
  if (torch.skipped !== undefined) lines.push(`torch: comparison skipped, ${torch.skipped}`);
  else {
    const first = torch.runs.find((t) => t.error === undefined);
    if (first !== undefined) lines.push(`torch: ${first.torchVersion} via ${torch.python}, ${first.threads} threads (torch.set_num_threads)`);
  }
  return lines;
}

function backendLines(report) {
  const lines = [];
  for (const result of report.backends) {
    if (result.error !== undefined) {
      lines.push(`${result.backend}: failed, ${result.error}`);
      continue;
    }
    const t = result.text.tokens;
    const batch = result.reduced ? 'reduced batch' : 'full batch';
    lines.push(
      `${result.backend} (${batch}): ${t.prompts} prompts of ${t.minTokens}-${t.maxTokens} tokens (mean ${t.meanTokens.toFixed(1)}), ` +
        `text tower runs on ${t.sequenceLength} tokens; ${result.image.images} images; ${result.warmUp ? `median of ${result.repetitions} after a warm-up` : `${result.repetitions} run(s) without a warm-up`}`,
    );
    if (result.text.chunks > 1) {
      lines.push(
        `  text forward+backward in two passes: a forward over all prompts, then forward+backward in ${result.text.chunks} chunks of ` +
          `${result.text.chunkSize} prompts (same gradient; each chunk is cut after its own last end-of-text token)`,
      );
    }
    if (result.image.chunkSize < result.image.images) lines.push(`  images encoded ${result.image.chunkSize} per encodeImage call`);
  }
  for (const skipped of report.skippedBackends) lines.push(`${skipped.backend}: skipped, ${skipped.reason}`);
  return lines;
}

function matMulLines(report) {
  const lines = [];
  for (const result of report.backends) {
    const matmul = result.matmul;
    if (matmul === undefined) continue;
    const base = matmul.variants.libraryMatMul.medianMs;
    lines.push('', `matMul forward+backward on ${result.backend}: [${matmul.rows}, ${matmul.inFeatures}] x [${matmul.inFeatures}, ${matmul.outFeatures}], median of ${result.repetitions}`);
    const rows = [['variant', 'median ms', 'ms / default']];
    for (const [key, label] of matMulVariants) {
      const ms = matmul.variants[key].medianMs;
      rows.push([label, formatMs(ms), (ms / base).toFixed(2)]);
    }
    lines.push(table(rows));
  }
  return lines;
}

/** Formats the whole report as plain text for stdout. */
export function formatReport(report, rows) {
  const timing = [['backend', 'measurement', 'batch', 'median ms', 'ms / item', 'torch ms', 'ms / torch ms']];
  for (const row of rows) {
    const unit = row.measurement === 'imageForward' ? 'images' : 'prompts';
    timing.push([
      row.backend,
      measurements.find((m) => m.key === row.measurement).label,
      `${row.items} ${unit}${row.reducedBatch ? ' (reduced)' : ''}`,
      formatMs(row.medianMs),
      formatMs(row.perItemMs),
      formatMs(row.torchMs),
      row.ratioToTorch === undefined ? '-' : row.ratioToTorch.toFixed(2),
    ]);
  }
  return [...headerLines(report), ...backendLines(report), '', table(timing), ...matMulLines(report), ''].join('\n');
}
