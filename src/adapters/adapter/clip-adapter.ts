import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import { matMul } from '../../runtime/matmul.js';
import { cosineLogits } from '../features.js';
import type { Attachment, ModuleContext, ModuleBatch, ModuleManifest, SourceRecord, TuningMethod, TuningModule } from '../types.js';
import { checkFeatureWidth, configFromManifest, linearWeight, numberCodec, positiveInteger, requireImageFeatures, restoreFrom, sourceRecord, takeSaved } from './shared.js';

const name = 'clip-adapter';

/** Config of CLIP-Adapter (Gao et al., IJCV 2023), visual adapter variant. */
export interface ClipAdapterConfig {
  /** Bottleneck reduction: the hidden layer is floor(embedDim / reduction) wide. 4 in the official code (`Adapter(1024, 4)`). */
  readonly reduction: number;
  /** Residual ratio: adapted = ratio · adapter(f) + (1 − ratio) · f. 0.2 in the official code (`ratio = 0.2`). */
  readonly residualRatio: number;
}

const configCodec = t.partial({
  reduction: positiveInteger,
  residualRatio: numberCodec('a number from 0 to 1', (value) => value >= 0 && value <= 1),
});

const attachment: Attachment = {
  depth: 'output-features',
  towers: ['vision'],
  layers: { text: [], vision: [] },
  text: 'frozen-features',
  vision: 'frozen-features',
};

/**
 * A bottleneck MLP on the image features, blended with them by a residual ratio, classified by the zero-shot
 * classifier of the backbone in use. As in the official code, both linear layers have no bias and each is
 * followed by a ReLU, so the adapter's output is non-negative.
 */
class ClipAdapterModule implements TuningModule {
  readonly method = name;
  readonly kind = 'adapter' as const;
  readonly attachment = attachment;

  constructor(
    readonly config: ClipAdapterConfig,
    readonly classNames: readonly string[],
    readonly template: string,
    readonly source: SourceRecord,
    /** [embedDim, hidden] */
    private readonly down: tf.Variable,
    /** [hidden, embedDim] */
    private readonly up: tf.Variable,
  ) {}

  parameters(): ReadonlyMap<string, tf.Variable> {
    return new Map([
      ['adapter.down', this.down],
      ['adapter.up', this.up],
    ]);
  }

  buffers(): ReadonlyMap<string, tf.Tensor> {
    return new Map();
  }

  logits(context: ModuleContext, batch: ModuleBatch): tf.Tensor2D {
    const features = requireImageFeatures(name, batch);
    checkFeatureWidth(name, `adapter weights [${this.down.shape}]`, this.down.shape[0] as number, context.backbone, features.shape[1]);
    const ratio = this.config.residualRatio;
    return tf.tidy(() => {
      const hidden = tf.relu(matMul(features, this.down as tf.Tensor2D));
      const adapted = tf.relu(matMul(hidden, this.up as tf.Tensor2D));
      const blended = tf.add(tf.mul(adapted, ratio), tf.mul(features, 1 - ratio)) as tf.Tensor2D;
      const classifier = context.features.zeroShotClassifier(context.backbone, this.classNames, this.template);
      return cosineLogits(blended, classifier, context.backbone.logitScale);
    });
  }

  dispose(): void {
    this.down.dispose();
    this.up.dispose();
  }
}

function hiddenWidth(embedDim: number, reduction: number): number {
  const hidden = Math.floor(embedDim / reduction);
  if (hidden < 1) throw new Error(`${name}: reduction ${reduction} leaves no hidden units for ${embedDim}-dimensional features; use a reduction of at most ${embedDim}`);
  return hidden;
}

/** CLIP-Adapter: a residual bottleneck adapter on the frozen image features. */
export const clipAdapter: TuningMethod<ClipAdapterConfig> = {
  name,
  kind: 'adapter',
  description: 'CLIP-Adapter (Gao et al., IJCV 2023): a residual bottleneck MLP on the image features before the zero-shot classifier.',
  configCodec: configCodec as unknown as t.Type<ClipAdapterConfig, unknown, unknown>,
  defaults: { reduction: 4, residualRatio: 0.2 },
  // The official clip_adapter.py is a trainer for CoOp's Dassl code, run with CoOp's commands. So these are
  // CoOp's configs/trainers/CoOp/rn50.yaml (SGD, lr 0.002, batch 32, 200 epochs, 1 warmup epoch at a
  // constant 1e-5, cosine) plus Dassl's defaults (momentum 0.9, weight decay 5e-4).
  training: { optimizer: 'sgd', learningRate: 0.002, epochs: 200, batchSize: 32, weightDecay: 5e-4, warmupEpochs: 1, warmupLearningRate: 1e-5, momentum: 0.9 },

  create({ backbone, classNames, config, random, template }) {
    const embedDim = backbone.dims.embedDim;
    const hidden = hiddenWidth(embedDim, config.reduction);
    // tidy frees the initial values; variables outlive it.
    const down = tf.tidy(() => tf.variable(linearWeight(embedDim, hidden, random.fork('adapter.down')), true));
    const up = tf.tidy(() => tf.variable(linearWeight(hidden, embedDim, random.fork('adapter.up')), true));
    return new ClipAdapterModule(config, classNames, template, sourceRecord(backbone), down, up);
  },

  restore(manifest: ModuleManifest, tensors: Map<string, tf.Tensor>) {
    return restoreFrom(tensors, () => {
      const config = configFromManifest(name, clipAdapter.configCodec, clipAdapter.defaults, manifest);
      const embedDim = manifest.source.dims.embedDim;
      const hidden = hiddenWidth(embedDim, config.reduction);
      const { 'adapter.down': down, 'adapter.up': up } = takeSaved(name, tensors, { 'adapter.down': [embedDim, hidden], 'adapter.up': [hidden, embedDim] });
      const module = new ClipAdapterModule(config, manifest.classNames, manifest.template, manifest.source, tf.variable(down, true), tf.variable(up, true));
      tf.dispose([down, up]);
      return module;
    });
  },
};
