import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import { getLogger } from '../../runtime/logger.js';
import { createRandom } from '../../runtime/random.js';
import { checkFeatureWidth, checkLabels, configFromManifest, numberCodec, nonNegativeInteger, positiveInteger, positiveNumber, requireImageFeatures, restoreFrom, sourceRecord, takeSaved } from '../adapter/shared.js';
import { l2Normalize } from '../features.js';
import type { Attachment, FitExamples, ModuleBatch, ModuleContext, ModuleManifest, SourceRecord, TuningMethod, TuningModule } from '../types.js';
import { fitLogisticRegression, type LogisticRegressionFit } from './logistic-regression.js';
import { searchInverseRegularization, stratifiedHoldOut, type LabelledFeatures, type SearchSettings } from './search.js';

const name = 'linear-probe';

/** C used when no validation examples can be formed because no class has two examples: scikit-learn's default. */
const fallbackInverseRegularization = 1;

/** The regularization strength of a fit and the way it was chosen. */
export interface ProbeSelection {
  /** The inverse L2 strength C of the final fit. */
  readonly inverseRegularization: number;
  /**
   * `validation`: searched on the validation split given to fit; `hold-out`: searched on a stratified part of
   * the training examples; `fixed`: taken from the config; `fallback`: no class had two training examples
   * to hold one out, so scikit-learn's default C = 1 was used.
   */
  readonly by: 'validation' | 'hold-out' | 'fixed' | 'fallback';
  /** Validation accuracy of the chosen C; null when there was no search. */
  readonly validationAccuracy: number | null;
  /** Whether the final L-BFGS fit converged (see {@link LogisticRegressionFit.converged}). */
  readonly converged: boolean;
}

/** Config of the linear probe, after CoOp's lpclip/linear_probe.py. */
export interface LinearProbeConfig {
  /**
   * Fit L2-normalized image features, the features CLIP's own logits compare. CoOp's script fits the raw
   * features; normalizing makes C mean the same on backbones whose feature norms differ.
   */
  readonly normalizeFeatures: boolean;
  /** Inverse L2 strength C (scikit-learn's). null: chosen by the search in `fit`. */
  readonly inverseRegularization: number | null;
  /** Values of C tried first. CoOp's script tries 1e-6 to 1e6 in steps of two decades. */
  readonly searchGrid: readonly number[];
  /** Rounds of refinement around the best grid value, each halving the step in log10 C. 8 in CoOp's linear_probe.sh (`--num_step 8`). */
  readonly refineSteps: number;
  /**
   * Share of each class held out to choose C when fit gets no validation split. 0.25: CoOp's script draws
   * 4 validation shots per class for 8 and 16 training shots.
   */
  readonly holdOutFraction: number;
  /** Seed of the stratified hold-out split. */
  readonly splitSeed: number;
  /** Maximum L-BFGS iterations per fit. 1000 in CoOp's script (`max_iter=1000`). */
  readonly maxIterations: number;
  /** Gradient tolerance of L-BFGS. 1e-4, scikit-learn's default `tol`. */
  readonly tolerance: number;
  /** The last fit's choice of C; null before fit. Set by `fit`. */
  readonly selection: ProbeSelection | null;
}

const configCodec = t.partial({
  normalizeFeatures: t.boolean,
  inverseRegularization: t.union([positiveNumber, t.null]),
  searchGrid: t.array(positiveNumber),
  refineSteps: nonNegativeInteger,
  holdOutFraction: numberCodec('a number between 0 and 1', (value) => value > 0 && value < 1),
  splitSeed: numberCodec('an integer', Number.isInteger),
  maxIterations: positiveInteger,
  tolerance: positiveNumber,
});

const defaults: LinearProbeConfig = {
  normalizeFeatures: true,
  inverseRegularization: null,
  searchGrid: [1e-6, 1e-4, 1e-2, 1, 1e2, 1e4, 1e6],
  refineSteps: 8,
  holdOutFraction: 0.25,
  splitSeed: 1,
  maxIterations: 1000,
  tolerance: 1e-4,
  selection: null,
};

/** A probe reads only image features: it uses no text at all and replaces the zero-shot classifier. */
const attachment: Attachment = {
  depth: 'output-features',
  towers: [],
  layers: { text: [], vision: [] },
  text: 'none',
  vision: 'frozen-features',
};

function gatherRows(features: tf.Tensor2D, labels: Int32Array, indices: readonly number[]): LabelledFeatures {
  return {
    features: tf.tidy(() => tf.gather(features, tf.tensor1d([...indices], 'int32')) as tf.Tensor2D),
    labels: Int32Array.from(indices, (i) => labels[i] as number),
  };
}

/**
 * Multinomial logistic regression on the frozen image features, fitted by L-BFGS with C chosen on validation
 * examples. Its weights live in the image feature space of the backbone it was fitted on, so a transplant
 * is meaningful only between backbones of the same embedding width, and even then only as far as their
 * feature spaces agree.
 */
class LinearProbeModule implements TuningModule {
  readonly method = name;
  readonly kind = 'probe' as const;
  readonly attachment = attachment;
  private settings: LinearProbeConfig;

  constructor(
    config: LinearProbeConfig,
    readonly classNames: readonly string[],
    readonly template: string,
    readonly source: SourceRecord,
    /** [embedDim, classes] */
    private readonly weight: tf.Variable,
    /** [classes] */
    private readonly bias: tf.Variable,
  ) {
    this.settings = config;
  }

  get config(): LinearProbeConfig {
    return this.settings;
  }

  parameters(): ReadonlyMap<string, tf.Variable> {
    return new Map([
      ['weight', this.weight],
      ['bias', this.bias],
    ]);
  }

  buffers(): ReadonlyMap<string, tf.Tensor> {
    return new Map();
  }

  private prepare(features: tf.Tensor2D): tf.Tensor2D {
    return this.settings.normalizeFeatures ? l2Normalize(features) : tf.clone(features);
  }

  async fit(context: ModuleContext, examples: FitExamples): Promise<void> {
    const classes = this.classNames.length;
    const width = this.weight.shape[0] as number;
    checkLabels(name, examples.labels, examples.imageFeatures.shape[0], classes);
    checkFeatureWidth(name, `probe weights [${this.weight.shape}]`, width, context.backbone, examples.imageFeatures.shape[1]);
    if (examples.validation !== undefined) {
      checkLabels(name, examples.validation.labels, examples.validation.imageFeatures.shape[0], classes);
      checkFeatureWidth(name, `probe weights [${this.weight.shape}]`, width, context.backbone, examples.validation.imageFeatures.shape[1]);
    }

    const features = this.prepare(examples.imageFeatures);
    const owned: tf.Tensor[] = [features];
    try {
      const { inverseRegularization, by, validationAccuracy, initial } = this.chooseInverseRegularization(features, examples, owned);
      const fit = fitLogisticRegression(features, examples.labels, classes, { inverseRegularization, maxIterations: this.settings.maxIterations, tolerance: this.settings.tolerance, initial });
      const parameters = Float32Array.from(fit.parameters);
      tf.tidy(() => {
        this.weight.assign(tf.tensor2d(parameters.subarray(0, width * classes), [width, classes]));
        this.bias.assign(tf.tensor1d(parameters.subarray(width * classes)));
      });
      this.settings = { ...this.settings, selection: { inverseRegularization, by, validationAccuracy, converged: fit.converged } };
      getLogger().info(`${name}: fitted with C = ${inverseRegularization} (${by})`, { validationAccuracy, iterations: fit.iterations, converged: fit.converged });
    } finally {
      tf.dispose(owned);
    }
  }

  /** Picks C: fixed by the config, searched on the given validation split, or searched on a stratified hold-out. */
  private chooseInverseRegularization(
    features: tf.Tensor2D,
    examples: FitExamples,
    owned: tf.Tensor[],
  ): { inverseRegularization: number; by: ProbeSelection['by']; validationAccuracy: number | null; initial?: Float64Array } {
    if (this.settings.inverseRegularization !== null) return { inverseRegularization: this.settings.inverseRegularization, by: 'fixed', validationAccuracy: null };
    const classes = this.classNames.length;
    const search: SearchSettings = { grid: this.settings.searchGrid, refineSteps: this.settings.refineSteps, maxIterations: this.settings.maxIterations, tolerance: this.settings.tolerance };

    if (examples.validation !== undefined) {
      const validation = { features: this.prepare(examples.validation.imageFeatures), labels: examples.validation.labels };
      owned.push(validation.features);
      const best = searchInverseRegularization({ features, labels: examples.labels }, validation, classes, search);
      // The final fit uses the same training examples as the search, so it starts from the chosen solution.
      return { inverseRegularization: best.inverseRegularization, by: 'validation', validationAccuracy: best.accuracy, initial: best.fit.parameters };
    }

    const split = stratifiedHoldOut(examples.labels, classes, this.settings.holdOutFraction, createRandom(this.settings.splitSeed));
    if (split.heldOut.length === 0) {
      getLogger().warn(`${name}: no class has two training examples, so none can be held out to choose C; using C = ${fallbackInverseRegularization}`);
      return { inverseRegularization: fallbackInverseRegularization, by: 'fallback', validationAccuracy: null };
    }
    const train = gatherRows(features, examples.labels, split.train);
    const heldOut = gatherRows(features, examples.labels, split.heldOut);
    owned.push(train.features, heldOut.features);
    const best = searchInverseRegularization(train, heldOut, classes, search);
    return { inverseRegularization: best.inverseRegularization, by: 'hold-out', validationAccuracy: best.accuracy, initial: best.fit.parameters };
  }

  logits(context: ModuleContext, batch: ModuleBatch): tf.Tensor2D {
    const features = requireImageFeatures(name, batch);
    checkFeatureWidth(name, `probe weights [${this.weight.shape}]`, this.weight.shape[0] as number, context.backbone, features.shape[1]);
    return tf.tidy(() => {
      const input = this.settings.normalizeFeatures ? l2Normalize(features) : features;
      return tf.add(tf.matMul(input, this.weight as tf.Tensor2D), this.bias) as tf.Tensor2D;
    });
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
  }
}

/** The linear probe: logistic regression on frozen image features, as in CLIP's and CoOp's few-shot baselines. */
export const linearProbe: TuningMethod<LinearProbeConfig> = {
  name,
  kind: 'probe',
  description: "Linear probe (Radford et al., 2021; CoOp's lpclip): L2-regularized logistic regression on frozen image features, C chosen on validation examples.",
  configCodec: configCodec as unknown as t.Type<LinearProbeConfig, unknown, unknown>,
  defaults,
  // The probe is fitted in closed form by `fit` (L-BFGS); the optimizer loop never runs, so these settings are unused.
  training: { optimizer: 'sgd', learningRate: 0, epochs: 0, batchSize: 1, weightDecay: 0, warmupEpochs: 0, warmupLearningRate: 0, momentum: 0 },

  create({ backbone, classNames, config, template }) {
    const weight = tf.tidy(() => tf.variable(tf.zeros([backbone.dims.embedDim, classNames.length]), true));
    const bias = tf.tidy(() => tf.variable(tf.zeros([classNames.length]), true));
    return new LinearProbeModule(config, classNames, template, sourceRecord(backbone), weight, bias);
  },

  restore(manifest: ModuleManifest, tensors: Map<string, tf.Tensor>) {
    return restoreFrom(tensors, () => {
      const config = configFromManifest(name, linearProbe.configCodec, defaults, manifest);
      const classes = manifest.classNames.length;
      const saved = takeSaved(name, tensors, { weight: [manifest.source.dims.embedDim, classes], bias: [classes] });
      const module = new LinearProbeModule(config, manifest.classNames, manifest.template, manifest.source, tf.variable(saved.weight, true), tf.variable(saved.bias, true));
      tf.dispose([saved.weight, saved.bias]);
      return module;
    });
  },
};
