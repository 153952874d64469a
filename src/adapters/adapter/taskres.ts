import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import { cosineLogits, fillTemplate } from '../features.js';
import type { Attachment, ModuleBatch, ModuleContext, ModuleManifest, SourceRecord, TuningMethod, TuningModule } from '../types.js';
import { checkFeatureWidth, configFromManifest, nonNegativeNumber, requireImageFeatures, restoreFrom, sourceRecord, takeSaved } from './shared.js';

const name = 'taskres';

/** Config of TaskRes (Yu et al., CVPR 2023), the text variant. */
export interface TaskResConfig {
  /**
   * Residual scale α: the classifier is t + α·R. 0.5 in the official train_regular.sh for every data set
   * but Oxford Flowers, which uses 1.0 (`TRAINER.TaskRes.RESIDUAL_SCALE`).
   */
  readonly residualScale: number;
}

const configCodec = t.partial({ residualScale: nonNegativeNumber });

const attachment: Attachment = {
  depth: 'output-features',
  towers: ['text'],
  layers: { text: [], vision: [] },
  text: 'frozen-features',
  vision: 'frozen-features',
};

/**
 * A learned residual R [classes, embedDim], initialized to zeros, added to the frozen text classifier t:
 * logits = scale · cos(f, t + α·R). As in the official code, t is the unnormalized text features of the
 * prompts, and normalization happens after the residual is added. t comes from the backbone in use, so a
 * transplanted residual is added to the target's own text features.
 */
class TaskResModule implements TuningModule {
  readonly method = name;
  readonly kind = 'adapter' as const;
  readonly attachment = attachment;

  constructor(
    readonly config: TaskResConfig,
    readonly classNames: readonly string[],
    readonly template: string,
    readonly source: SourceRecord,
    /** [classes, embedDim] */
    private readonly residual: tf.Variable,
  ) {}

  parameters(): ReadonlyMap<string, tf.Variable> {
    return new Map([['residual', this.residual]]);
  }

  buffers(): ReadonlyMap<string, tf.Tensor> {
    return new Map();
  }

  logits(context: ModuleContext, batch: ModuleBatch): tf.Tensor2D {
    const features = requireImageFeatures(name, batch);
    checkFeatureWidth(name, `residual [${this.residual.shape}]`, this.residual.shape[1] as number, context.backbone, features.shape[1]);
    return tf.tidy(() => {
      const prompts = this.classNames.map((className) => fillTemplate(this.template, className));
      const base = context.features.textFeatures(context.backbone, prompts);
      const classifier = tf.add(base, tf.mul(this.residual, this.config.residualScale)) as tf.Tensor2D;
      return cosineLogits(features, classifier, context.backbone.logitScale);
    });
  }

  dispose(): void {
    this.residual.dispose();
  }
}

/** TaskRes: a learned additive residual on the zero-shot text classifier. */
export const taskRes: TuningMethod<TaskResConfig> = {
  name,
  kind: 'adapter',
  description: 'TaskRes (Yu et al., CVPR 2023): a learned residual added to the frozen text classifier, starting from zero.',
  configCodec: configCodec as unknown as t.Type<TaskResConfig, unknown, unknown>,
  defaults: { residualScale: 0.5 },
  // Official configs/trainers/TaskRes/adam_lr2e-3_B256_ep200.yaml: Adam, lr 0.002, batch 256, 200 epochs,
  // 1 warmup epoch at a constant 1e-5, cosine. train_regular.sh uses it for 8 and 16 shots on every data set
  // but ImageNet, which gets lr 2e-4; 1 to 4 shots get 100 epochs. Weight decay 5e-4 is Dassl's default.
  // NOTE: Dassl's "adam" is torch.optim.Adam with L2 weight decay added to the gradient; the engine's AdamW
  // decays the weights directly, which differs slightly.
  training: { optimizer: 'adamw', learningRate: 0.002, epochs: 200, batchSize: 256, weightDecay: 5e-4, warmupEpochs: 1, warmupLearningRate: 1e-5, momentum: 0 },

  create({ backbone, classNames, config, template }) {
    const residual = tf.tidy(() => tf.variable(tf.zeros([classNames.length, backbone.dims.embedDim]), true));
    return new TaskResModule(config, classNames, template, sourceRecord(backbone), residual);
  },

  restore(manifest: ModuleManifest, tensors: Map<string, tf.Tensor>) {
    return restoreFrom(tensors, () => {
      const config = configFromManifest(name, taskRes.configCodec, taskRes.defaults, manifest);
      const saved = takeSaved(name, tensors, { residual: [manifest.classNames.length, manifest.source.dims.embedDim] }).residual;
      const residual = tf.variable(saved, true);
      saved.dispose();
      return new TaskResModule(config, manifest.classNames, manifest.template, manifest.source, residual);
    });
  },
};
