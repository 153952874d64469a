/**
 * A least-recently-used cache of preprocessed images, bounded by the number of images. One image of side s
 * takes s * s * 12 bytes (600 KB at 224 px).
 */
export class ImageCache {
  private readonly entries = new Map<string, Float32Array>();

  constructor(
    /** Maximum number of images kept; 0 turns caching off. */
    readonly capacity: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 0) {
      throw new RangeError(`ImageCache capacity must be a non-negative integer number of images, got ${capacity}`);
    }
  }

  /** Number of images held. */
  get size(): number {
    return this.entries.size;
  }

  /** Returns the image stored under `key` and marks it as the most recently used. */
  get(key: string): Float32Array | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  /** Stores an image, evicting the least recently used ones beyond the capacity. */
  set(key: string, value: Float32Array): void {
    if (this.capacity === 0) return;
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** Drops every image. */
  clear(): void {
    this.entries.clear();
  }
}
