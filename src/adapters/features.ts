import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../backbones/types.js';

/** Scales each row to unit L2 norm. */
export function l2Normalize<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.div(x, tf.add(tf.norm(x, 2, -1, true), 1e-12)) as T);
}

/** CLIP logits: scale × cosine similarity of image features [batch, d] with class features [classes, d] → [batch, classes]. */
export function cosineLogits(imageFeatures: tf.Tensor2D, classFeatures: tf.Tensor2D, scale: number): tf.Tensor2D {
  return tf.tidy(() => tf.mul(tf.matMul(l2Normalize(imageFeatures), tf.transpose(l2Normalize(classFeatures))), scale) as tf.Tensor2D);
}

/** Fills a prompt template: every `{}` becomes the class name. */
export function fillTemplate(template: string, className: string): string {
  if (!template.includes('{}')) throw new Error(`Prompt template "${template}" has no "{}" where the class name goes, e.g. "a photo of a {}."`);
  return template.split('{}').join(className);
}

/**
 * Frozen features computed once per backbone and reused: text features of prompts and zero-shot
 * classifiers. Tensors it returns belong to the cache: do not dispose them; call {@link dispose} at the end.
 */
export class FeatureCache {
  private readonly byBackbone = new Map<Backbone, Map<string, tf.Tensor2D>>();

  private entries(backbone: Backbone): Map<string, tf.Tensor2D> {
    let entries = this.byBackbone.get(backbone);
    if (entries === undefined) {
      entries = new Map();
      this.byBackbone.set(backbone, entries);
    }
    return entries;
  }

  /** Returns the entry under `key` for `backbone`, or undefined when none is cached. */
  cached(backbone: Backbone, key: string): tf.Tensor2D | undefined {
    return this.entries(backbone).get(key);
  }

  /** Returns cached or computed entries under `key` for `backbone`. */
  remember(backbone: Backbone, key: string, compute: () => tf.Tensor2D): tf.Tensor2D {
    const entries = this.entries(backbone);
    const found = entries.get(key);
    if (found !== undefined) return found;
    const value = tf.keep(compute());
    entries.set(key, value);
    return value;
  }

  /** Text features [prompts, embedDim] of the given prompts, unnormalized. */
  textFeatures(backbone: Backbone, prompts: readonly string[]): tf.Tensor2D {
    return this.remember(backbone, `text:${JSON.stringify(prompts)}`, () => tf.tidy(() => backbone.encodeText(backbone.tokenize(prompts))));
  }

  /** Returns the zero-shot classifier [classes, embedDim]: L2-normalized text features of the template filled with each class name. */
  zeroShotClassifier(backbone: Backbone, classNames: readonly string[], template: string): tf.Tensor2D {
    const prompts = classNames.map((name) => fillTemplate(template, name));
    return this.remember(backbone, `zero-shot:${JSON.stringify(prompts)}`, () => l2Normalize(this.textFeatures(backbone, prompts)));
  }

  /** Frees every cached tensor of one backbone, or of all backbones. */
  dispose(backbone?: Backbone): void {
    const targets = backbone === undefined ? [...this.byBackbone.keys()] : [backbone];
    for (const b of targets) {
      for (const t of this.byBackbone.get(b)?.values() ?? []) t.dispose();
      this.byBackbone.delete(b);
    }
  }
}
