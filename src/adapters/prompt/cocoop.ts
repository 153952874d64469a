import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import type { Backbone } from '../../backbones/types.js';
import { matMul } from '../../runtime/matmul.js';
import { l2Normalize } from '../features.js';
import type { ModuleBatch, ModuleContext, ModuleManifest, SourceRecord, TuningMethod, TuningModule } from '../types.js';
import { checkImageFeatureWidth, checkTextWidth, contextTokenCount, imageFeaturesOf, initialContext, promptAttachment } from './common.js';
import { buildClassPrompts, encodeWithSharedContext, type ClassPrompts } from './prompts.js';
import { positiveInteger, restoring, savedConfig, savedVariables, sourceRecord, toVariables, torchLinear } from './support.js';

const name = 'cocoop';

/** Config of CoCoOp (Zhou et al., "Conditional Prompt Learning for Vision-Language Models", CVPR 2022). */
export interface CocoopConfig {
  /** Learned context tokens; ignored when `init` gives words. 4 in `vit_b16_c4_ep10_batch1_ctxv1.yaml` (`N_CTX: 4`). */
  readonly contextTokens: number;
  /** `"random"` (normal, std 0.02) or the words whose token embeddings start the context; "a photo of a" in the official config (`CTX_INIT`). */
  readonly init: string;
  /** The meta-net's hidden width is floor(embedDim / reduction); 16 in the official code (`vis_dim // 16`). */
  readonly reduction: number;
}

const configCodec = t.partial({
  contextTokens: positiveInteger,
  init: t.string,
  reduction: positiveInteger,
});

/** Saved name of each parameter. Weights are stored input-major: [in, out]. */
const savedNames = {
  context: 'context',
  hiddenWeight: 'meta_net.linear1.weight',
  hiddenBias: 'meta_net.linear1.bias',
  outputWeight: 'meta_net.linear2.weight',
  outputBias: 'meta_net.linear2.bias',
} as const;

type Field = keyof typeof savedNames;

/** The parameters: context [n, textWidth], hiddenWeight [embedDim, hidden], hiddenBias [hidden], outputWeight [hidden, textWidth], outputBias [textWidth]. */
type CocoopParameters = Readonly<Record<Field, tf.Variable>>;

/**
 * Context tokens shifted by an image-conditioned bias: a meta-net Linear(embedDim → embedDim / 16), ReLU,
 * Linear(→ textWidth) reads the L2-normalized image feature, and its output is added to every context token.
 * Every image therefore has its own prompts, and the text tower runs once per (image, class) pair.
 */
class CocoopModule implements TuningModule {
  readonly method = name;
  readonly kind = 'prompt' as const;
  readonly attachment = promptAttachment;
  private readonly promptsByBackbone = new WeakMap<Backbone, ClassPrompts>();

  constructor(
    readonly config: CocoopConfig,
    readonly classNames: readonly string[],
    readonly template: string,
    readonly source: SourceRecord,
    private readonly weights: CocoopParameters,
  ) {}

  parameters(): ReadonlyMap<string, tf.Variable> {
    return new Map((Object.keys(savedNames) as Field[]).map((field) => [savedNames[field], this.weights[field]]));
  }

  buffers(): ReadonlyMap<string, tf.Tensor> {
    return new Map();
  }

  private prompts(backbone: Backbone): ClassPrompts {
    let prompts = this.promptsByBackbone.get(backbone);
    if (prompts === undefined) {
      prompts = buildClassPrompts(name, backbone, this.classNames, this.weights.context.shape[0] as number);
      this.promptsByBackbone.set(backbone, prompts);
    }
    return prompts;
  }

  logits(context: ModuleContext, batch: ModuleBatch): tf.Tensor2D {
    const { backbone } = context;
    const w = this.weights;
    checkTextWidth(name, `context tokens [${w.context.shape}]`, w.context.shape[1] as number, backbone);
    const prompts = this.prompts(backbone);

    return tf.tidy(() => {
      const features = imageFeaturesOf(name, context, batch);
      checkImageFeatureWidth(name, `meta-net weights [${w.hiddenWeight.shape}]`, w.hiddenWeight.shape[0] as number, features.shape[1], backbone);
      const image = l2Normalize(features); // [batch, embedDim]
      const images = image.shape[0];
      const hidden = tf.relu(tf.add(matMul(image, w.hiddenWeight as tf.Tensor2D), w.hiddenBias));
      const shift = tf.add(matMul(hidden as tf.Tensor2D, w.outputWeight as tf.Tensor2D), w.outputBias); // [batch, textWidth]
      const shifted = tf.add(tf.expandDims(w.context, 0), tf.expandDims(shift, 1)) as tf.Tensor3D; // [batch, n, textWidth]

      // Row i * classes + c is image i's prompt for class c.
      const text = l2Normalize(tf.reshape(encodeWithSharedContext(backbone, prompts, shifted), [images, this.classNames.length, -1]));
      const similarity = tf.sum(tf.mul(text, tf.expandDims(image, 1)), 2); // [batch, classes]
      return tf.mul(similarity, backbone.logitScale) as tf.Tensor2D;
    });
  }

  dispose(): void {
    tf.dispose(Object.values(this.weights));
  }
}

function hiddenWidth(embedDim: number, reduction: number): number {
  const hidden = Math.floor(embedDim / reduction);
  if (hidden < 1) throw new Error(`${name}: reduction ${reduction} leaves no hidden units for ${embedDim}-dimensional image features; use a reduction of at most ${embedDim}`);
  return hidden;
}

/**
 * CoCoOp. Defaults are the official ViT-B/16 base-to-new config `configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml`:
 * 4 context tokens from "a photo of a"; SGD, lr 0.002, batch 1, 10 epochs, cosine, 1 warmup epoch at a
 * constant 1e-5; Dassl's defaults for momentum (0.9) and weight decay (5e-4).
 */
export const cocoop: TuningMethod<CocoopConfig> = {
  name,
  kind: 'prompt',
  description: 'CoCoOp (Zhou et al., CVPR 2022): CoOp context shifted per image by a small meta-net on the image feature.',
  configCodec: configCodec as unknown as t.Type<CocoopConfig, unknown, unknown>,
  defaults: { contextTokens: 4, init: 'a photo of a', reduction: 16 },
  training: { optimizer: 'sgd', learningRate: 0.002, epochs: 10, batchSize: 1, weightDecay: 5e-4, warmupEpochs: 1, warmupLearningRate: 1e-5, momentum: 0.9 },

  create({ backbone, classNames, config, random, template }) {
    const { embedDim, textWidth } = backbone.dims;
    const tokens = contextTokenCount(name, backbone, config.init, config.contextTokens);
    buildClassPrompts(name, backbone, classNames, tokens);
    const hidden = torchLinear(embedDim, hiddenWidth(embedDim, config.reduction), random.fork('meta_net.linear1'));
    const output = torchLinear(hidden.bias.size, textWidth, random.fork('meta_net.linear2'));
    const weights = toVariables({
      context: initialContext(name, backbone, config.init, tokens, random.fork(savedNames.context)),
      hiddenWeight: hidden.weight,
      hiddenBias: hidden.bias,
      outputWeight: output.weight,
      outputBias: output.bias,
    });
    return new CocoopModule(config, classNames, template, sourceRecord(backbone), weights);
  },

  restore(manifest: ModuleManifest, tensors: Map<string, tf.Tensor>) {
    return restoring(tensors, () => {
      const config = savedConfig(cocoop, manifest);
      const { embedDim, textWidth } = manifest.source.dims;
      const hidden = hiddenWidth(embedDim, config.reduction);
      const saved = savedVariables(name, tensors, {
        [savedNames.context]: [-1, textWidth],
        [savedNames.hiddenWeight]: [embedDim, hidden],
        [savedNames.hiddenBias]: [hidden],
        [savedNames.outputWeight]: [hidden, textWidth],
        [savedNames.outputBias]: [textWidth],
      });
      const weights = Object.fromEntries((Object.keys(savedNames) as Field[]).map((field) => [field, saved[savedNames[field]]])) as Record<Field, tf.Variable>;
      return new CocoopModule(config, manifest.classNames, manifest.template, manifest.source, weights);
    });
  },
};
