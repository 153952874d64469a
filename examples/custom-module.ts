// A custom tuning module in one file: a learned per-dimension scale of the image features, on top of the
// backbone's zero-shot classifier. It shows the whole TuningMethod contract: a config codec with defaults,
// training defaults, create, logits and restore.
import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import { cosineLogits, type ModuleManifest, type TuningMethod, type TuningModule, type SourceRecord } from 'vlm-compat';

/** Config of the feature-scale module. */
export interface FeatureScaleConfig {
  /** Initial value of every scale; 1 starts from the zero-shot classifier exactly. */
  readonly initialScale: number;
}

const configCodec = t.partial({ initialScale: t.number });

function build(scale: tf.Variable, config: FeatureScaleConfig, classNames: readonly string[], template: string, source: SourceRecord): TuningModule {
  return {
    method: 'feature-scale',
    kind: 'adapter',
    attachment: { depth: 'output-features', towers: ['vision'], layers: { text: [], vision: [] }, text: 'frozen-features', vision: 'frozen-features' },
    config,
    classNames,
    template,
    source,
    parameters: () => new Map([['scale', scale]]),
    buffers: () => new Map(),
    logits(context, batch) {
      if (batch.imageFeatures === undefined) throw new Error('feature-scale needs frozen image features');
      const features = batch.imageFeatures;
      if (features.shape[1] !== scale.shape[0]) {
        throw new Error(`feature-scale was trained for ${scale.shape[0]}-wide features, this backbone gives ${features.shape[1]}`);
      }
      return tf.tidy(() => {
        const classifier = context.features.zeroShotClassifier(context.backbone, classNames, template);
        return cosineLogits(tf.mul(features, scale) as tf.Tensor2D, classifier, context.backbone.logitScale);
      });
    },
    dispose: () => scale.dispose(),
  };
}

/** The feature-scale method, ready for `registerMethod`. */
export const featureScaleMethod: TuningMethod<FeatureScaleConfig> = {
  name: 'feature-scale',
  kind: 'adapter',
  description: 'A learned per-dimension scale of the image features (an example of a custom module).',
  configCodec: configCodec as unknown as t.Type<FeatureScaleConfig, unknown, unknown>,
  defaults: { initialScale: 1 },
  training: { optimizer: 'adamw', learningRate: 0.05, epochs: 10, batchSize: 8, weightDecay: 0, warmupEpochs: 0, warmupLearningRate: 0, momentum: 0 },
  create({ backbone, classNames, config, template }) {
    const source: SourceRecord = { identity: backbone.identity, dims: backbone.dims, tokenizer: backbone.tokenizer.source };
    const scale = tf.tidy(() => tf.variable(tf.fill([backbone.dims.embedDim], config.initialScale), true));
    return build(scale, config, classNames, template, source);
  },
  restore(manifest: ModuleManifest, tensors: Map<string, tf.Tensor>) {
    const saved = tensors.get('scale');
    if (saved === undefined) throw new Error('feature-scale: the saved module has no "scale" tensor');
    const scale = tf.variable(saved, true);
    saved.dispose();
    return build(scale, manifest.config as FeatureScaleConfig, manifest.classNames, manifest.template, manifest.source);
  },
};
