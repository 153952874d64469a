import * as tf from '@tensorflow/tfjs-core';
import type { Random } from '../runtime/random.js';
import type { ImageSource } from './types.js';

/**
 * An in-memory image source over preprocessed images [n, size, size, 3]. Augmentation is a seeded random
 * horizontal flip plus a shift of up to an eighth of the side with edge padding, so it works at any size.
 * Takes ownership of `pixels`.
 */
export class TensorImageSource implements ImageSource {
  readonly size: number;

  constructor(
    private readonly pixels: tf.Tensor4D,
    readonly labels: Int32Array,
    readonly id?: string,
  ) {
    if (pixels.shape[0] !== labels.length) {
      throw new Error(`TensorImageSource: ${pixels.shape[0]} images but ${labels.length} labels; give one label per image`);
    }
    this.size = labels.length;
  }

  async images(indices: readonly number[], imageSize: number, augment?: Random): Promise<tf.Tensor4D> {
    if (this.pixels.shape[1] !== imageSize) {
      throw new Error(`TensorImageSource contains ${this.pixels.shape[1]} px images but ${imageSize} px were requested; resize them first`);
    }
    return tf.tidy(() => {
      const picked = tf.gather(this.pixels, tf.tensor1d([...indices], 'int32')) as tf.Tensor4D;
      if (augment === undefined) return picked;
      const views = indices.map((index, row) => {
        const random = augment.fork(String(index));
        let image = tf.slice(picked, [row, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
        if (random.next() < 0.5) image = tf.reverse(image, 2);
        const maxShift = Math.max(1, Math.floor(imageSize / 8));
        const dy = random.int(2 * maxShift + 1) - maxShift;
        const dx = random.int(2 * maxShift + 1) - maxShift;
        const padded = tf.mirrorPad(image, [[0, 0], [maxShift, maxShift], [maxShift, maxShift], [0, 0]], 'symmetric');
        return tf.slice(padded, [0, maxShift + dy, maxShift + dx, 0], [1, imageSize, imageSize, 3]);
      });
      return tf.concat(views, 0) as tf.Tensor4D;
    });
  }

  /** Frees the images. */
  dispose(): void {
    this.pixels.dispose();
  }
}
