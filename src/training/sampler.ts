import type { Random } from '../runtime/random.js';

/** Shot counts of the standard few-shot protocol. */
export const standardShots = [1, 2, 4, 8, 16] as const;

/** Shuffles a copy of `items` with a seeded Fisher-Yates shuffle. */
export function shuffled<T>(items: readonly T[], random: Random): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

/** The outcome of K-shot sampling. */
export interface FewShotSample {
  /** Indices of the chosen examples, grouped by class in class order. */
  readonly indices: number[];
  /** Classes that had fewer than `shots` examples, with how many they had (all of them were taken). */
  readonly shortClasses: ReadonlyArray<{
    /** Class index. */
    readonly label: number;
    /** Examples the class had. */
    readonly available: number;
  }>;
}

/**
 * Draws `shots` examples per class, seeded: the same labels, shots and seed always give the same indices.
 * A class with fewer examples contributes all it has and is listed in `shortClasses`.
 */
export function sampleFewShot(labels: ArrayLike<number>, classes: number, shots: number, random: Random): FewShotSample {
  if (!Number.isInteger(shots) || shots < 1) throw new Error(`shots must be a positive integer, got ${shots}; the standard values are ${standardShots.join(', ')}`);
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] as number;
    if (!Number.isInteger(label) || label < 0 || label >= classes) throw new Error(`label ${label} of example ${i} is outside 0..${classes - 1}`);
    (byClass[label] as number[]).push(i);
  }
  const indices: number[] = [];
  const shortClasses: Array<{ label: number; available: number }> = [];
  byClass.forEach((members, label) => {
    if (members.length < shots) shortClasses.push({ label, available: members.length });
    indices.push(...shuffled(members, random.fork(`class-${label}`)).slice(0, shots));
  });
  return { indices, shortClasses };
}
