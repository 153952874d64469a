/** A seeded pseudo-random source. The same seed always yields the same sequence on every platform. */
export interface Random {
  /** Returns a float in [0, 1). */
  next(): number;
  /** Returns an integer in [0, n). */
  int(n: number): number;
  /** Returns a float drawn from the standard normal distribution. */
  normal(): number;
  /** Returns a new source whose sequence depends on this one's seed and on `label`, not on how much of this one was drawn. */
  fork(label: string): Random;
}

function hashString(text: string, seed: number): number {
  let h = seed ^ 0x9e3779b9;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x85ebca6b);
    h ^= h >>> 13;
  }
  return h >>> 0;
}

/** Creates a seeded random source (mulberry32, a 32-bit generator that is fast and good enough for sampling and augmentation). */
export function createRandom(seed: number): Random {
  const initial = seed >>> 0;
  let state = initial;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    normal: () => {
      // Box-Muller transform; 1 - u keeps the logarithm's argument above zero.
      const u = 1 - next();
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    fork: (label) => createRandom(hashString(label, initial)),
  };
}
