import { FeatureCache } from '../adapters/features.js';
import type { TuningModule } from '../adapters/types.js';
import type { Backbone } from '../backbones/types.js';
import { computeMetrics, defaultMetrics, perClassChange, type ClassAccuracyChange } from '../metrics/index.js';
import type { PredictionSets } from '../metrics/types.js';
import { checkCompatibility, type Mismatch } from '../pipeline/preflight.js';
import { moduleManifest } from '../adapters/save.js';
import { accuracy, predict } from '../training/predict.js';
import type { ImageSource } from '../training/types.js';

/** The data a portability check evaluates on and the thresholds it enforces. */
export interface PortabilityOptions {
  /** The backbone the module was trained on. */
  readonly source: Backbone;
  /** Labelled test images; for backbones that preprocess differently, a function that opens them per backbone. */
  readonly dataset: ImageSource | ((backbone: Backbone) => ImageSource);
  /** Lowest acceptable retention, accuracy(target + module) / accuracy(source + module). */
  readonly minRetention?: number;
  /** Highest acceptable negative flip rate, 0..1. */
  readonly maxNfr?: number;
  /** Lowest acceptable gain over the target's zero-shot accuracy, as a fraction (0 = at least zero-shot). */
  readonly minGain?: number;
  /** Classes listed in a failure message, worst first. Default 3. */
  readonly worstClasses?: number;
}

/** The measured portability of a module onto a target backbone. */
export interface PortabilityReport {
  /** Accuracy of source + module, 0..1. */
  readonly sourceAccuracy: number;
  /** Accuracy of the target zero-shot with the module's class names and template, 0..1. */
  readonly targetZeroShotAccuracy: number;
  /** Accuracy of target + transplanted module, 0..1; 0 when preflight found mismatches, because the module is then not run. */
  readonly transplantedAccuracy: number;
  /** transplantedAccuracy / sourceAccuracy; NaN when sourceAccuracy is 0. */
  readonly retention: number;
  /** Negative flip rate: share of test examples source + module gets right and target + transplanted gets wrong. */
  readonly nfr: number;
  /** transplantedAccuracy − targetZeroShotAccuracy, as a fraction. */
  readonly gain: number;
  /** Preflight mismatches between the module and the target; each one is also a failure. */
  readonly mismatches: readonly Mismatch[];
  /** Classes by accuracy change, worst first. */
  readonly classes: readonly ClassAccuracyChange[];
  /** Threshold violations, one line each; empty when the module is portable. */
  readonly failures: readonly string[];
}

/** Raised by {@link assertPortable}; the message lists the measured values, the thresholds and the worst classes. */
export class PortabilityError extends Error {
  /** Error name: `PortabilityError`. */
  override readonly name = 'PortabilityError';
  constructor(
    /** The measurements and the failed thresholds. */
    readonly report: PortabilityReport,
    message: string,
  ) {
    super(message);
  }
}

function open(dataset: PortabilityOptions['dataset'], backbone: Backbone): ImageSource {
  return typeof dataset === 'function' ? dataset(backbone) : dataset;
}

const percent = (value: number) => `${(100 * value).toFixed(1)}%`;

/** Measures how a module trained on `options.source` performs when transplanted onto `target`. */
export async function measurePortability(module: TuningModule, target: Backbone, options: PortabilityOptions): Promise<PortabilityReport> {
  const mismatches = checkCompatibility(moduleManifest(module), target);
  const features = new FeatureCache();
  try {
    const sourceData = open(options.dataset, options.source);
    const targetData = open(options.dataset, target);
    const labels = targetData.labels;
    const sourcePredictions = await predict(module, options.source, features, sourceData);
    const zeroShot = await predict(undefined, target, features, targetData, { classNames: module.classNames, template: module.template });
    const transplanted = mismatches.length === 0 ? (await predict(module, target, features, targetData)).predictions : new Int32Array(labels.length).fill(-1);
    const sets: PredictionSets = { labels, classNames: module.classNames, sourceModule: sourcePredictions.predictions, targetZeroShot: zeroShot.predictions, targetTransplanted: transplanted };
    const metrics = new Map(computeMetrics(sets, defaultMetrics(sets)).map((m) => [m.name, m.value]));

    const report = {
      sourceAccuracy: accuracy(sourcePredictions.predictions, labels),
      targetZeroShotAccuracy: accuracy(zeroShot.predictions, labels),
      transplantedAccuracy: accuracy(transplanted, labels),
      retention: metrics.get('retention') ?? Number.NaN,
      nfr: metrics.get('nfr') ?? Number.NaN,
      gain: metrics.get('gain-over-zero-shot') ?? Number.NaN,
      mismatches,
      classes: perClassChange(sets),
    };
    const failures: string[] = mismatches.map((m) => `preflight: ${m.message}`);
    if (options.minRetention !== undefined && !(report.retention >= options.minRetention)) failures.push(`retention ${percent(report.retention)} is below the minimum ${percent(options.minRetention)}`);
    if (options.maxNfr !== undefined && !(report.nfr <= options.maxNfr)) failures.push(`NFR ${percent(report.nfr)} is above the maximum ${percent(options.maxNfr)}`);
    if (options.minGain !== undefined && !(report.gain >= options.minGain)) failures.push(`gain over zero-shot ${(100 * report.gain).toFixed(1)} points is below the minimum ${(100 * options.minGain).toFixed(1)}`);
    return { ...report, failures };
  } finally {
    features.dispose();
  }
}

/** Formats a report as the lines a failing test prints. */
export function describePortability(module: TuningModule, target: Backbone, report: PortabilityReport, worst = 3): string {
  const lines = [
    `${module.method} (trained on ${module.source.identity.name}) on ${target.identity.name}:`,
    `  source + module ${percent(report.sourceAccuracy)}, target zero-shot ${percent(report.targetZeroShotAccuracy)}, target + transplanted ${percent(report.transplantedAccuracy)}`,
    `  retention ${percent(report.retention)}, NFR ${percent(report.nfr)}, gain ${(100 * report.gain).toFixed(1)} points`,
    ...report.failures.map((f) => `  FAILED: ${f}`),
    `  worst classes: ${report.classes
      .filter((c) => c.support > 0)
      .slice(0, worst)
      .map((c) => `${c.className} ${percent(c.source)} → ${percent(c.transplanted)}`)
      .join(', ')}`,
  ];
  return lines.join('\n');
}

/**
 * Checks that a module transplanted onto `target` meets the thresholds, with any test runner. When it does
 * not, throws a PortabilityError that shows the metric values, the thresholds and the worst classes.
 */
export async function assertPortable(module: TuningModule, target: Backbone, options: PortabilityOptions): Promise<PortabilityReport> {
  const report = await measurePortability(module, target, options);
  if (report.failures.length > 0) throw new PortabilityError(report, describePortability(module, target, report, options.worstClasses));
  return report;
}
