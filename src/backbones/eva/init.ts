import * as tf from '@tensorflow/tfjs-core';
import type { Random } from '../../runtime/random.js';
import type { LayoutEntry } from '../checkpoint.js';
import type { EvaClipConfig } from './config.js';
import { evaLayout } from './layouts.js';

/**
 * Shape of each canonical tensor an entry becomes: Linear weights are transposed to [in, out], the patch
 * convolution is flattened, and a fused q/k/v tensor is split in three.
 */
function canonicalShape(entry: LayoutEntry): number[] {
  if (entry.conversion === 'split3') {
    const [rows, columns] = entry.shape as [number, number | undefined];
    return columns === undefined ? [rows / 3] : [columns, rows / 3];
  }
  if (entry.conversion === 'conv') {
    const [width, channels, patch] = entry.shape as [number, number, number, number];
    return [patch * patch * channels, width];
  }
  if (entry.conversion === 'transpose') return [...entry.shape].reverse();
  return [...entry.shape];
}

/**
 * Creates random canonical EVA-CLIP weights: normal(0, std) for matrices and embeddings, 1 ± noise for
 * layer-norm scales, small noise for shifts and biases, and log(1 / 0.07) for the temperature as CLIP and
 * EVA-CLIP initialize it. Used for tests and as the start of pretraining a small EVA-CLIP.
 */
export function initEvaCanonical(config: EvaClipConfig, random: Random, std = 0.02): Map<string, tf.Tensor> {
  const canonical = new Map<string, tf.Tensor>();
  const entries = evaLayout(config, 'eva-clip');
  for (const entry of entries) {
    for (const name of entry.canonical) {
      if (name === 'logit_scale') {
        canonical.set(name, tf.scalar(Math.log(1 / 0.07)));
        continue;
      }
      const shape = canonicalShape(entry);
      const size = shape.reduce((a, b) => a * b, 1);
      const values = new Float32Array(size);
      // Layer-norm scales start near 1, shifts and biases near 0, everything else at spread `std`.
      let center = 0;
      let spread = std;
      if (name.endsWith('.gamma')) {
        center = 1;
        spread = 0.1;
      } else if (name.endsWith('.beta') || name.endsWith('.bias')) {
        spread = 0.5 * std;
      }
      for (let i = 0; i < size; i++) values[i] = center + spread * random.normal();
      canonical.set(name, tf.tensor(values, shape));
    }
  }
  return canonical;
}
