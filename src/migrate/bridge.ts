import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import { sourceRecord, takeSaved } from '../adapters/adapter/shared.js';
import { FeatureCache, fillTemplate, l2Normalize } from '../adapters/features.js';
import { getMethod } from '../adapters/registry.js';
import { moduleManifest } from '../adapters/save.js';
import type { Attachment, ModuleBatch, ModuleContext, ModuleManifest, SourceRecord, TrainingDefaults, TuningMethod, TuningModule } from '../adapters/types.js';
import type { Backbone } from '../backbones/types.js';
import { orthogonalProcrustes } from '../forecast/linalg.js';
import { toFloat64 } from '../forecast/similarity.js';
import type { OpenedImages } from '../forecast/unlabeled.js';
import { getLogger } from '../runtime/logger.js';
import { matMul } from '../runtime/matmul.js';
import { encodeImages } from '../training/train.js';
import { StoredPromptBackbone } from './stored-prompts.js';

/** Registry name of bridged modules. */
export const bridgedMethodName = 'bridged';

/** Prefix of the wrapped module's tensors inside a bridged module. */
const innerPrefix = 'inner.';
const mapName = 'bridge.map';
const textFeaturesName = 'bridge.sourceTextFeatures';

/** Returns why `module` cannot be bridged, or undefined when it can. */
export function bridgeRejection(module: TuningModule): string | undefined {
  const { depth, vision, text } = module.attachment;
  if (depth !== 'output-features' || vision === 'backprop' || text === 'backprop') {
    return `${module.method} attaches at ${depth} (vision ${vision}, text ${text}); the bridge maps output features, so it only carries modules that read frozen output features. Use distill instead`;
  }
  if (module.method === bridgedMethodName) return `${module.method} is already bridged; bridge the original module from its source backbone instead`;
  return undefined;
}

/** The fitted map from target image features to source image features. */
export interface BridgeFit {
  /** Orthogonal (or semi-orthogonal, when widths differ) map [targetEmbedDim, sourceEmbedDim]. */
  readonly map: tf.Tensor2D;
  /** Factor applied after the map: total source feature norm over total mapped target feature norm. */
  readonly scale: number;
  /** ‖T W − S‖²_F / ‖S‖²_F on the L2-normalized features, 0..2. */
  readonly procrustesResidual: number;
  /** Directions the images did not determine (fewer images than dimensions), completed arbitrarily. */
  readonly rankDeficiency: number;
  /** Unlabeled images the map was fitted on. */
  readonly images: number;
}

function rowNormSum(x: tf.Tensor2D): number {
  return tf.tidy(() => tf.sum(tf.norm(x, 2, 1)).dataSync()[0] as number);
}

/**
 * Fits the bridge on unlabeled images: W = argmin over orthogonal W of ‖T W − S‖_F for the L2-normalized
 * image features T (target) and S (source), then a global scale so that mapped features have the source's
 * typical norm. No translation is fitted, because CLIP compares features by angle about the origin.
 */
export async function fitBridge(source: Backbone, target: Backbone, images: OpenedImages): Promise<BridgeFit> {
  const all = Array.from({ length: images.count }, (_, i) => i);
  const sourceFeatures = await encodeImages(source, images.source, all);
  const targetFeatures = await encodeImages(target, images.target, all);
  try {
    const targetDim = targetFeatures.shape[1];
    const sourceDim = sourceFeatures.shape[1];
    if (images.count < Math.max(targetDim, sourceDim)) {
      getLogger().warn(
        `bridge: ${images.count} unlabeled images for ${targetDim}- and ${sourceDim}-dimensional features; the map is only determined on the directions the images span. Pass at least ${Math.max(targetDim, sourceDim)} images`,
      );
    }

    let cross: Float64Array = new Float64Array(0);
    let targetSquares = 0;
    let sourceSquares = 0;
    tf.tidy(() => {
      const normalizedTarget = l2Normalize(targetFeatures);
      const normalizedSource = l2Normalize(sourceFeatures);
      cross = toFloat64(tf.matMul(normalizedTarget, normalizedSource, true, false) as tf.Tensor2D); // [targetDim, sourceDim]
      targetSquares = tf.sum(tf.square(normalizedTarget)).dataSync()[0] as number;
      sourceSquares = tf.sum(tf.square(normalizedSource)).dataSync()[0] as number;
    });
    const solution = orthogonalProcrustes(cross, targetDim, sourceDim);
    const map = tf.tensor2d(Float32Array.from(solution.map), [targetDim, sourceDim]);

    const mappedNorms = tf.tidy(() => rowNormSum(matMul(targetFeatures, map)));
    const scale = mappedNorms > 0 ? rowNormSum(sourceFeatures) / mappedNorms : 1;
    const procrustesResidual = Math.max((targetSquares + sourceSquares - 2 * solution.nuclearNorm) / sourceSquares, 0);
    return { map, scale, procrustesResidual, rankDeficiency: solution.rankDeficiency, images: images.count };
  } finally {
    tf.dispose([sourceFeatures, targetFeatures]);
  }
}

/** Config of a bridged module, saved in its manifest. */
export interface BridgedConfig {
  /** The wrapped source module: its method, config and the backbone it was trained on. */
  readonly inner: {
    /** Registry name of the wrapped module's method. */
    readonly method: string;
    /** The wrapped module's config, as its method saves it. */
    readonly config: unknown;
    /** The source backbone and tokenizer the wrapped module was trained with. */
    readonly source: SourceRecord;
  };
  /** The source backbone's logit scale, which the wrapped module's classifier uses. */
  readonly sourceLogitScale: number;
  /** Factor applied to mapped features (see {@link BridgeFit.scale}). */
  readonly scale: number;
  /** How well the map fitted, recorded for the reader. */
  readonly fit: {
    /** Unlabeled images the map was fitted on. */
    readonly images: number;
    /** See {@link BridgeFit.procrustesResidual}. */
    readonly procrustesResidual: number;
    /** See {@link BridgeFit.rankDeficiency}. */
    readonly rankDeficiency: number;
  };
}

const sourceRecordCodec = t.type({
  identity: t.type({ family: t.string, name: t.string, revision: t.string, weightsSha256: t.string }),
  dims: t.type({ embedDim: t.number }),
  tokenizer: t.type({ kind: t.string, sha256: t.string }),
});

const bridgedConfigCodec = t.type({
  inner: t.type({ method: t.string, config: t.unknown, source: sourceRecordCodec }),
  sourceLogitScale: t.number,
  scale: t.number,
  fit: t.type({ images: t.number, procrustesResidual: t.number, rankDeficiency: t.number }),
});

/**
 * A source module moved to the target through the bridge: target image features are mapped into the
 * source feature space (features · W · scale) and the source module classifies them with the source's class
 * prompt features, stored in the module, so the source backbone is not needed at inference.
 */
export class BridgedModule implements TuningModule {
  readonly method = bridgedMethodName;
  readonly kind: TuningModule['kind'];
  readonly attachment: Attachment;
  readonly classNames: readonly string[];
  readonly template: string;
  private readonly sourceBackbone: StoredPromptBackbone;
  private readonly cache = new FeatureCache();

  /** Takes ownership of `inner`, `map` [targetDim, sourceDim] and `sourceTextFeatures` [classes, sourceDim]. */
  constructor(
    readonly config: BridgedConfig,
    readonly source: SourceRecord,
    private readonly inner: TuningModule,
    private readonly map: tf.Tensor2D,
    private readonly sourceTextFeatures: tf.Tensor2D,
  ) {
    this.kind = inner.kind;
    this.classNames = inner.classNames;
    this.template = inner.template;
    this.attachment = { depth: 'output-features', towers: inner.attachment.towers, layers: { text: [], vision: [] }, text: 'none', vision: 'frozen-features' };
    const prompts = inner.classNames.map((name) => fillTemplate(inner.template, name));
    this.sourceBackbone = new StoredPromptBackbone(inner.source.identity, inner.source.dims, config.sourceLogitScale, prompts, sourceTextFeatures);
  }

  parameters(): ReadonlyMap<string, tf.Variable> {
    return new Map([...this.inner.parameters()].map(([name, variable]) => [innerPrefix + name, variable]));
  }

  buffers(): ReadonlyMap<string, tf.Tensor> {
    return new Map<string, tf.Tensor>([
      ...[...this.inner.buffers()].map(([name, buffer]) => [innerPrefix + name, buffer] as [string, tf.Tensor]),
      [mapName, this.map],
      [textFeaturesName, this.sourceTextFeatures],
    ]);
  }

  logits(context: ModuleContext, batch: ModuleBatch): tf.Tensor2D {
    const features = batch.imageFeatures;
    if (features === undefined) throw new Error(`${this.method} reads frozen image features, but the batch has none; pass { imageFeatures } computed with backbone.encodeImage`);
    const targetDim = this.map.shape[0];
    if (features.shape[1] !== targetDim) {
      throw new Error(
        `${this.method}: the bridge maps ${targetDim}-dimensional features of ${this.source.identity.name}, but backbone ${context.backbone.identity.name} gives ${features.shape[1]}-dimensional ones; bridge the module to this backbone`,
      );
    }
    return tf.tidy(() => {
      const mapped = tf.mul(matMul(features, this.map), this.config.scale) as tf.Tensor2D; // [batch, sourceDim]
      const innerContext: ModuleContext = { backbone: this.sourceBackbone, features: this.cache, training: context.training, ...(context.random === undefined ? {} : { random: context.random }) };
      return this.inner.logits(innerContext, { imageFeatures: mapped });
    });
  }

  dispose(): void {
    this.cache.dispose();
    this.inner.dispose();
    tf.dispose([this.map, this.sourceTextFeatures]);
  }
}

/** Copies a module through its manifest and tensors, so the copy owns its tensors. */
export function copyModule(module: TuningModule): TuningModule {
  const tensors = new Map<string, tf.Tensor>();
  for (const [name, tensor] of [...module.parameters(), ...module.buffers()]) tensors.set(name, tf.clone(tensor));
  return getMethod(module.method).restore(moduleManifest(module), tensors);
}

/**
 * Builds the bridged module for `module` (trained on `source`) on `target` from a fitted bridge. Takes
 * ownership of `fit.map`; `module` stays the caller's. Throws when the module cannot be bridged.
 */
export function bridgeModule(module: TuningModule, source: Backbone, target: Backbone, fit: BridgeFit, features: FeatureCache): BridgedModule {
  const rejection = bridgeRejection(module);
  if (rejection !== undefined) throw new Error(`cannot bridge: ${rejection}`);
  const prompts = module.classNames.map((name) => fillTemplate(module.template, name));
  const sourceTextFeatures = tf.clone(features.textFeatures(source, prompts));
  const inner = copyModule(module);
  const config: BridgedConfig = {
    inner: { method: module.method, config: module.config, source: module.source },
    sourceLogitScale: source.logitScale,
    scale: fit.scale,
    fit: { images: fit.images, procrustesResidual: fit.procrustesResidual, rankDeficiency: fit.rankDeficiency },
  };
  return new BridgedModule(config, sourceRecord(target), inner, fit.map, sourceTextFeatures);
}

/** Training settings of the bridge: it has no optimizer loop, so these are never used. */
const noTraining: TrainingDefaults = { optimizer: 'sgd', learningRate: 0, epochs: 0, batchSize: 1, weightDecay: 0, warmupEpochs: 0, warmupLearningRate: 0, momentum: 0 };

/** Rebuilds a bridged module from its manifest; the wrapped module is restored through its own method. */
function restoreBridged(manifest: ModuleManifest, tensors: Map<string, tf.Tensor>): BridgedModule {
  try {
    const decoded = bridgedConfigCodec.decode(manifest.config);
    if (decoded._tag === 'Left') throw new Error(`${bridgedMethodName}: the saved manifest has an invalid config; save the module again`);
    const config = decoded.right as unknown as BridgedConfig;
    const sourceDim = config.inner.source.dims.embedDim;
    const { [mapName]: map, [textFeaturesName]: textFeatures } = takeSaved(bridgedMethodName, tensors, {
      [mapName]: [manifest.source.dims.embedDim, sourceDim],
      [textFeaturesName]: [manifest.classNames.length, sourceDim],
    });

    let inner: TuningModule;
    try {
      // The wrapped module's tensors move to their own map, which its method's restore takes over.
      const innerTensors = new Map<string, tf.Tensor>();
      for (const [name, tensor] of [...tensors]) {
        if (!name.startsWith(innerPrefix)) continue;
        innerTensors.set(name.slice(innerPrefix.length), tensor);
        tensors.delete(name);
      }
      const innerManifest: ModuleManifest = {
        ...manifest,
        method: config.inner.method,
        config: config.inner.config,
        source: config.inner.source,
        tensors: manifest.tensors.filter((entry) => entry.name.startsWith(innerPrefix)).map((entry) => ({ ...entry, name: entry.name.slice(innerPrefix.length) })),
      };
      inner = getMethod(config.inner.method).restore(innerManifest, innerTensors);
    } catch (error) {
      tf.dispose([map, textFeatures]);
      throw error;
    }
    return new BridgedModule(config, manifest.source, inner, map as tf.Tensor2D, textFeatures as tf.Tensor2D);
  } finally {
    for (const tensor of tensors.values()) tensor.dispose();
    tensors.clear();
  }
}

/**
 * The `bridged` method: restores saved bridged modules. Bridged modules are made by migrating a module
 * with the bridge, not created fresh, so `create` throws.
 */
export const bridgedMethod: TuningMethod<unknown> = {
  name: bridgedMethodName,
  kind: 'adapter',
  description: 'A module moved to a new backbone without labels by an orthogonal map from the new image features to the old ones (made by migrateModule with the bridge).',
  // The config is written by the bridge, never by a user, so there are no defaults to fill in.
  configCodec: bridgedConfigCodec as t.Type<unknown, unknown, unknown>,
  defaults: {},
  training: noTraining,
  create() {
    throw new Error(`${bridgedMethodName} modules cannot be created fresh; make one with migrateModule(module, source, target, images, { method: 'bridge' })`);
  },
  restore: restoreBridged,
};
