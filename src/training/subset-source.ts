import type * as tf from '@tensorflow/tfjs-core';
import type { Random } from '../runtime/random.js';
import type { ImageSource } from './types.js';

/** A view of some examples of another image source, such as a K-shot training split. */
export class SubsetImageSource implements ImageSource {
  readonly size: number;
  readonly labels: Int32Array;
  readonly id?: string;

  constructor(
    private readonly base: ImageSource,
    private readonly indices: readonly number[],
    id?: string,
  ) {
    for (const index of indices) {
      if (!Number.isInteger(index) || index < 0 || index >= base.size) throw new Error(`subset index ${index} is outside 0..${base.size - 1}`);
    }
    this.size = indices.length;
    this.labels = Int32Array.from(indices, (i) => base.labels[i] as number);
    if (id !== undefined) this.id = id;
  }

  images(indices: readonly number[], imageSize: number, augment?: Random): Promise<tf.Tensor4D> {
    // Augmentation forks by the base index, so a view of an example is the same in every subset.
    return this.base.images(
      indices.map((i) => this.indices[i] as number),
      imageSize,
      augment,
    );
  }
}
