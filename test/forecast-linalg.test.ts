import { describe, expect, it } from 'vitest';
import { crossNuclearNorm, nuclearNorm, orthogonalProcrustes, symmetricEigen, symmetricEigenvalues } from '../src/forecast/linalg.js';
import { createRandom } from '../src/runtime/random.js';

function randomMatrix(rows: number, cols: number, seed: number): Float64Array {
  const random = createRandom(seed);
  return Float64Array.from({ length: rows * cols }, () => random.normal());
}

function randomSymmetric(n: number, seed: number): Float64Array {
  const a = randomMatrix(n, n, seed);
  return Float64Array.from({ length: n * n }, (_, k) => (a[k] as number) + (a[(k % n) * n + Math.floor(k / n)] as number));
}

function multiply(a: Float64Array, b: Float64Array, rows: number, inner: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let k = 0; k < inner; k++) for (let j = 0; j < cols; j++) out[i * cols + j] = (out[i * cols + j] as number) + (a[i * inner + k] as number) * (b[k * cols + j] as number);
  return out;
}

function transpose(a: Float64Array, rows: number, cols: number): Float64Array {
  return Float64Array.from({ length: rows * cols }, (_, k) => a[(k % rows) * cols + Math.floor(k / rows)] as number);
}

function largestDifference(a: Float64Array, b: Float64Array): number {
  return a.reduce((max, value, i) => Math.max(max, Math.abs(value - (b[i] as number))), 0);
}

function identity(n: number): Float64Array {
  return Float64Array.from({ length: n * n }, (_, k) => (k % (n + 1) === 0 ? 1 : 0));
}

describe('symmetricEigen', () => {
  for (const n of [1, 2, 5, 33]) {
    it(`diagonalizes a ${n}×${n} matrix`, () => {
      const a = randomSymmetric(n, n);
      const { values, vectors } = symmetricEigen(a, n);
      const av = multiply(a, vectors, n, n, n);
      const vl = Float64Array.from({ length: n * n }, (_, k) => (vectors[k] as number) * (values[k % n] as number));
      expect(largestDifference(av, vl)).toBeLessThan(1e-10);
    });
  }

  it('returns orthonormal vectors', () => {
    const { vectors } = symmetricEigen(randomSymmetric(20, 4), 20);
    expect(largestDifference(multiply(transpose(vectors, 20, 20), vectors, 20, 20, 20), identity(20))).toBeLessThan(1e-12);
  });

  it('sorts values largest first', () => {
    const { values } = symmetricEigen(randomSymmetric(12, 5), 12);
    expect([...values]).toEqual([...values].sort((x, y) => y - x));
  });

  it('handles repeated eigenvalues', () => {
    const { values } = symmetricEigen(identity(6), 6);
    expect([...values]).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('matches symmetricEigenvalues', () => {
    const a = randomSymmetric(17, 6);
    expect(largestDifference(symmetricEigenvalues(a, 17), symmetricEigen(a, 17).values)).toBeLessThan(1e-10);
  });

  it('rejects a wrong size', () => {
    expect(() => symmetricEigen(new Float64Array(5), 2)).toThrow(/expected 2 × 2 = 4/);
  });

  it('rejects NaN entries', () => {
    expect(() => symmetricEigen(Float64Array.from([1, Number.NaN, Number.NaN, 1]), 2)).toThrow(/did not converge/);
  });
});

describe('orthogonalProcrustes', () => {
  it('recovers a rotation', () => {
    const d = 8;
    const rotation = symmetricEigen(randomSymmetric(d, 7), d).vectors;
    const source = randomMatrix(40, d, 8);
    const target = multiply(source, rotation, 40, d, d);
    const { map } = orthogonalProcrustes(multiply(transpose(target, 40, d), source, d, 40, d), d, d);
    expect(largestDifference(map, transpose(rotation, d, d))).toBeLessThan(1e-10);
  });

  it('returns an orthogonal map when rank deficient', () => {
    const d = 10;
    const a = randomMatrix(4, d, 9);
    const b = randomMatrix(4, d, 10);
    const solution = orthogonalProcrustes(multiply(transpose(a, 4, d), b, d, 4, d), d, d);
    expect(solution.rankDeficiency).toBe(6);
    expect(largestDifference(multiply(transpose(solution.map, d, d), solution.map, d, d, d), identity(d))).toBeLessThan(1e-10);
  });

  it('gives orthonormal columns for a tall map', () => {
    const m = randomMatrix(9, 4, 11);
    const { map } = orthogonalProcrustes(m, 9, 4);
    expect(largestDifference(multiply(transpose(map, 9, 4), map, 4, 9, 4), identity(4))).toBeLessThan(1e-10);
  });

  it('gives orthonormal rows for a wide map', () => {
    const m = randomMatrix(3, 7, 12);
    const { map } = orthogonalProcrustes(m, 3, 7);
    expect(largestDifference(multiply(map, transpose(map, 3, 7), 3, 7, 3), identity(3))).toBeLessThan(1e-10);
  });

  it('maximizes the trace', () => {
    const m = randomMatrix(6, 6, 13);
    const { map, nuclearNorm: norm } = orthogonalProcrustes(m, 6, 6);
    const trace = m.reduce((sum, value, k) => sum + value * (map[k] as number), 0);
    expect(trace).toBeCloseTo(norm, 10);
  });
});

describe('nuclearNorm', () => {
  it('equals the trace of a positive definite matrix', () => {
    const a = randomMatrix(30, 6, 14);
    const gram = multiply(transpose(a, 30, 6), a, 6, 30, 6);
    const trace = [0, 1, 2, 3, 4, 5].reduce((sum, i) => sum + (gram[i * 7] as number), 0);
    expect(nuclearNorm(gram, 6, 6)).toBeCloseTo(trace, 8);
  });

  it('equals the trace when rank deficient', () => {
    const a = randomMatrix(3, 40, 16);
    const gram = multiply(transpose(a, 3, 40), a, 40, 3, 40);
    const trace = Array.from({ length: 40 }, (_, i) => gram[i * 41] as number).reduce((sum, value) => sum + value, 0);
    expect(nuclearNorm(gram, 40, 40)).toBeCloseTo(trace, 9);
  });

  it('is the same for a matrix and its transpose', () => {
    const m = randomMatrix(3, 8, 15);
    expect(nuclearNorm(m, 3, 8)).toBeCloseTo(nuclearNorm(transpose(m, 3, 8), 8, 3), 10);
  });
});

describe('crossNuclearNorm', () => {
  // A [n, da] and B [n, db] with n below both dimensions, as when a forecast compares a few images.
  const [n, da, db] = [7, 20, 16];
  const a = randomMatrix(n, da, 21);
  const b = randomMatrix(n, db, 22);
  const gram = (x: Float64Array, cols: number) => multiply(x, transpose(x, n, cols), n, cols, n);

  it('equals the nuclear norm of Aᵀ B', () => {
    const direct = nuclearNorm(multiply(transpose(a, n, da), b, da, n, db), da, db);
    expect(crossNuclearNorm(gram(a, da), gram(b, db), n)).toBeCloseTo(direct, 8);
  });

  it('handles a rank-deficient Gram matrix', () => {
    // Two equal rows make A Aᵀ singular.
    const repeated = Float64Array.from(a);
    repeated.set(a.subarray(0, da), da);
    const direct = nuclearNorm(multiply(transpose(repeated, n, da), b, da, n, db), da, db);
    expect(crossNuclearNorm(gram(repeated, da), gram(b, db), n)).toBeCloseTo(direct, 6);
  });

  it('rejects Gram matrices of the wrong size', () => {
    expect(() => crossNuclearNorm(new Float64Array(9), new Float64Array(4), 3)).toThrow(/have 9 and 4 entries, expected 3 × 3 = 9/);
  });
});
