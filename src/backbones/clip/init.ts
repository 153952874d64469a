import * as tf from '@tensorflow/tfjs-core';
import type { Random } from '../../runtime/random.js';
import { clipLayout } from './layouts.js';
import type { ClipConfig } from './config.js';

/**
 * Creates random canonical CLIP weights: normal(0, std) for matrices and embeddings, 1 ± noise for
 * layer-norm scales, small noise for shifts and biases, and log(1 / 0.07) for the temperature as CLIP
 * initializes it. Used for tests, benchmarks and as the start of pretraining.
 */
export function initClipCanonical(config: ClipConfig, random: Random, std = 0.02): Map<string, tf.Tensor> {
  const canonical = new Map<string, tf.Tensor>();
  for (const entry of clipLayout(config, 'hf')) {
    entry.canonical.forEach((name) => {
      if (name === 'logit_scale') {
        canonical.set(name, tf.scalar(Math.log(1 / 0.07)));
        return;
      }
      const shape = canonicalShape(name, entry.shape, config);
      const size = shape.reduce((a, b) => a * b, 1);
      const values = new Float32Array(size);
      const isScale = name.endsWith('.gamma');
      const isShift = name.endsWith('.beta') || name.endsWith('.bias');
      for (let i = 0; i < size; i++) {
        const noise = random.normal();
        if (isScale) values[i] = 1 + 0.1 * noise;
      else if (isShift) values[i] = 0.5 * std * noise;
      else values[i] = std * noise;
      }
      canonical.set(name, tf.tensor(values, shape));
    });
  }
  return canonical;
}

function canonicalShape(name: string, checkpointShape: readonly number[], config: ClipConfig): number[] {
  if (name === 'vision.patch_embedding') {
    const p = config.vision.patchSize;
    return [p * p * 3, config.vision.width];
  }
  // HuggingFace stores Linear weights [out, in]; canonical tensors are [in, out].
  if (checkpointShape.length === 2 && (name.endsWith('.weight') || name.endsWith('.projection'))) {
    return [checkpointShape[1] as number, checkpointShape[0] as number];
  }
  return [...checkpointShape];
}
