/**
 * Small dense linear algebra in float64 for the forecast and the bridge: a symmetric eigendecomposition and
 * the orthogonal Procrustes map built on it. tfjs-core has no SVD, and the
 * matrices here are at most embedDim × embedDim (512 for ViT-B/16), so plain JavaScript arrays suffice.
 * Every matrix is row-major.
 */

/** Eigenvalues, largest first, and the matching unit eigenvectors as the columns of `vectors` [n, n]. */
export interface SymmetricEigen {
  /** Eigenvalues [n], largest first. */
  readonly values: Float64Array;
  /** Unit eigenvectors as columns, row-major [n, n]. */
  readonly vectors: Float64Array;
}

/** QR iterations allowed per eigenvalue before giving up; Wilkinson shifts usually need two or three. */
const maxIterationsPerEigenvalue = 50;

/**
 * Reduces the symmetric matrix `m` (n × n, modified in place) to tridiagonal form by Householder
 * reflections, m = Q T Qᵀ. Returns T's diagonal and superdiagonal and Qᵀ [n, n], whose rows are the basis
 * vectors, so that later rotations of two basis vectors touch two contiguous rows.
 */
function tridiagonalize(m: Float64Array, n: number, withBasis: boolean): { diagonal: Float64Array; offDiagonal: Float64Array; basis: Float64Array | undefined } {
  const basis = withBasis ? new Float64Array(n * n) : undefined;
  if (basis !== undefined) for (let i = 0; i < n; i++) basis[i * n + i] = 1;
  const v = new Float64Array(n);
  const w = new Float64Array(n);
  const rowSums = new Float64Array(n);

  for (let k = 0; k < n - 2; k++) {
    // The reflection H = I − 2vvᵀ, acting on indices k+1..n−1, maps row k's part right of the diagonal to alpha·e1.
    let norm = 0;
    for (let i = k + 1; i < n; i++) norm += (m[k * n + i] as number) ** 2;
    norm = Math.sqrt(norm);
    if (norm === 0) continue;
    const x0 = m[k * n + k + 1] as number;
    const alpha = x0 > 0 ? -norm : norm;
    let vNorm = 0;
    for (let i = k + 1; i < n; i++) {
      v[i] = (m[k * n + i] as number) - (i === k + 1 ? alpha : 0);
      vNorm += (v[i] as number) ** 2;
    }
    vNorm = Math.sqrt(vNorm);
    if (vNorm === 0) continue;
    for (let i = k + 1; i < n; i++) v[i] = (v[i] as number) / vNorm;

    // H S H for the trailing block S: with p = S v, K = vᵀ p and w = p − K v, H S H = S − 2(v wᵀ + w vᵀ).
    let K = 0;
    for (let i = k + 1; i < n; i++) {
      let p = 0;
      for (let j = k + 1; j < n; j++) p += (m[i * n + j] as number) * (v[j] as number);
      w[i] = p;
      K += (v[i] as number) * p;
    }
    for (let i = k + 1; i < n; i++) w[i] = (w[i] as number) - K * (v[i] as number);
    for (let i = k + 1; i < n; i++) {
      const vi = v[i] as number;
      const wi = w[i] as number;
      for (let j = k + 1; j < n; j++) m[i * n + j] = (m[i * n + j] as number) - 2 * (vi * (w[j] as number) + wi * (v[j] as number));
    }
    for (let i = k + 1; i < n; i++) {
      m[k * n + i] = i === k + 1 ? alpha : 0;
      m[i * n + k] = i === k + 1 ? alpha : 0;
    }

    // Qᵀ ← H Qᵀ on rows k+1..n−1.
    if (basis === undefined) continue;
    rowSums.fill(0);
    for (let i = k + 1; i < n; i++) {
      const vi = v[i] as number;
      for (let j = 0; j < n; j++) rowSums[j] = (rowSums[j] as number) + vi * (basis[i * n + j] as number);
    }
    for (let i = k + 1; i < n; i++) {
      const vi = 2 * (v[i] as number);
      for (let j = 0; j < n; j++) basis[i * n + j] = (basis[i * n + j] as number) - vi * (rowSums[j] as number);
    }
  }

  const diagonal = Float64Array.from({ length: n }, (_, i) => m[i * n + i] as number);
  const offDiagonal = Float64Array.from({ length: Math.max(n - 1, 0) }, (_, i) => m[i * n + i + 1] as number);
  return { diagonal, offDiagonal, basis };
}

/** Rotates basis rows k and k+1 by [[c, s], [−s, c]]. */
function rotateRows(basis: Float64Array, n: number, k: number, c: number, s: number): void {
  const first = k * n;
  const second = (k + 1) * n;
  for (let j = 0; j < n; j++) {
    const x = basis[first + j] as number;
    const y = basis[second + j] as number;
    basis[first + j] = c * x + s * y;
    basis[second + j] = -s * x + c * y;
  }
}

/**
 * Diagonalizes a symmetric tridiagonal matrix by implicit QR steps with Wilkinson shifts (Golub and Van
 * Loan, Matrix Computations, algorithm 8.3.2), applying every rotation to the basis rows as well.
 */
function diagonalizeTridiagonal(a: Float64Array, b: Float64Array, basis: Float64Array | undefined, n: number): void {
  // An off-diagonal entry this small next to the whole matrix is below the rounding the Householder
  // reduction already made, so it is zeroed even between two tiny diagonal entries.
  let matrixNorm = 0;
  for (let i = 0; i < n; i++) matrixNorm = Math.max(matrixNorm, Math.abs(a[i] as number) + Math.abs(b[i] ?? 0) + Math.abs(b[i - 1] ?? 0));
  const floor = 1e-3 * Number.EPSILON * matrixNorm;

  for (let hi = n - 1; hi > 0; ) {
    let iterations = 0;
    for (;;) {
      // Split off the unreduced block [lo, hi]: an off-diagonal entry negligible next to its neighbours is zero.
      let lo = hi;
      while (lo > 0) {
        const scale = Math.abs(a[lo - 1] as number) + Math.abs(a[lo] as number);
        if (Math.abs(b[lo - 1] as number) <= Math.max(Number.EPSILON * scale, floor)) {
          b[lo - 1] = 0;
          break;
        }
        lo--;
      }
      if (lo === hi) break;
      if (++iterations > maxIterationsPerEigenvalue) throw new Error(`symmetricEigen: QR iteration did not converge for eigenvalue ${hi} of ${n}; the matrix may contain NaN or infinite entries`);

      // Wilkinson shift: the eigenvalue of the trailing 2×2 block closer to its last diagonal entry.
      const d = ((a[hi - 1] as number) - (a[hi] as number)) / 2;
      const e = b[hi - 1] as number;
      const shift = (a[hi] as number) - (e * e) / (d + (d >= 0 ? 1 : -1) * Math.hypot(d, e));

      // Chase the bulge from the top of the block to its bottom with rotations R = [[c, s], [−s, c]], T ← R T Rᵀ.
      let x = (a[lo] as number) - shift;
      let z = b[lo] as number;
      for (let k = lo; k < hi; k++) {
        const r = Math.hypot(x, z);
        const c = r === 0 ? 1 : x / r;
        const s = r === 0 ? 0 : z / r;
        if (k > lo) b[k - 1] = r;
        const ak = a[k] as number;
        const ak1 = a[k + 1] as number;
        const bk = b[k] as number;
        a[k] = c * c * ak + 2 * c * s * bk + s * s * ak1;
        a[k + 1] = s * s * ak - 2 * c * s * bk + c * c * ak1;
        b[k] = c * s * (ak1 - ak) + (c * c - s * s) * bk;
        if (basis !== undefined) rotateRows(basis, n, k, c, s);
        if (k + 1 < hi) {
          const next = b[k + 1] as number;
          z = s * next;
          b[k + 1] = c * next;
          x = b[k] as number;
        }
      }
    }
    hi--;
  }
}

/**
 * Computes the eigendecomposition of the symmetric n × n matrix `a` by Householder reduction to tridiagonal
 * form, then implicit QR with Wilkinson shifts, roughly 10 n³ floating-point operations in all. `a` must be
 * symmetric and is not modified.
 */
export function symmetricEigen(a: Float64Array, n: number): SymmetricEigen {
  if (a.length !== n * n) throw new Error(`symmetricEigen: the matrix has ${a.length} entries, expected ${n} × ${n} = ${n * n}`);
  const { diagonal, offDiagonal, basis } = tridiagonalize(Float64Array.from(a), n, true);
  diagonalizeTridiagonal(diagonal, offDiagonal, basis, n);
  if (basis === undefined) throw new Error('symmetricEigen: internal error, the eigenvector basis was not built');

  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => (diagonal[j] as number) - (diagonal[i] as number));
  const values = Float64Array.from(order, (i) => diagonal[i] as number);
  const vectors = new Float64Array(n * n);
  order.forEach((from, to) => {
    for (let k = 0; k < n; k++) vectors[k * n + to] = basis[from * n + k] as number;
  });
  return { values, vectors };
}

/** Computes the eigenvalues of the symmetric matrix `a` [n, n], largest first, without eigenvectors (about a third of the work). */
export function symmetricEigenvalues(a: Float64Array, n: number): Float64Array {
  if (a.length !== n * n) throw new Error(`symmetricEigenvalues: the matrix has ${a.length} entries, expected ${n} × ${n} = ${n * n}`);
  const { diagonal, offDiagonal } = tridiagonalize(Float64Array.from(a), n, false);
  diagonalizeTridiagonal(diagonal, offDiagonal, undefined, n);
  return Float64Array.from(diagonal).sort().reverse();
}

/**
 * Relative size below which a singular value counts as zero. Eigenvalues of Mᵀ M carry rounding of about
 * 1e-16 · λ_max, so singular values (their square roots) are only resolved down to about 1e-8 · σ_max.
 */
const singularTolerance = 1e-6;

/** Computes the nuclear norm of M [rows, cols] (the sum of its singular values) from the eigenvalues of the smaller of Mᵀ M and M Mᵀ. */
export function nuclearNorm(m: Float64Array, rows: number, cols: number): number {
  if (m.length !== rows * cols) throw new Error(`nuclearNorm: the matrix has ${m.length} entries, expected ${rows} × ${cols}`);
  const gram = cols <= rows ? transposeTimes(m, m, rows, cols, cols) : transposeTimes(transpose(m, rows, cols), transpose(m, rows, cols), cols, rows, rows);
  // Eigenvalues of a rank-deficient Gram matrix that should be 0 come out near 1e-16 · λ_max. Their square
  // roots would add up to a visible error, so singular values below the tolerance count as 0.
  return sumOfSingularValues(symmetricEigenvalues(gram, Math.min(rows, cols)));
}

/** Sums the square roots of eigenvalues that are Gram eigenvalues of some matrix, counting those below the tolerance as 0. */
function sumOfSingularValues(eigenvalues: Float64Array): number {
  const cutoff = singularTolerance * Math.sqrt(Math.max(eigenvalues[0] ?? 0, 0));
  let sum = 0;
  for (const value of eigenvalues) {
    const sigma = Math.sqrt(Math.max(value, 0));
    if (sigma > cutoff) sum += sigma;
  }
  return sum;
}

/**
 * Computes the nuclear norm of Aᵀ B for A [n, da] and B [n, db] from their Gram matrices ka = A Aᵀ and
 * kb = B Bᵀ [n, n]. The squared singular values of Aᵀ B are the eigenvalues of ka^½ kb ka^½, so this costs
 * O(n³) instead of the O(d³) of {@link nuclearNorm} on Aᵀ B: the cheaper route when n is below the dimensions.
 */
export function crossNuclearNorm(ka: Float64Array, kb: Float64Array, n: number): number {
  if (ka.length !== n * n || kb.length !== n * n) throw new Error(`crossNuclearNorm: the Gram matrices have ${ka.length} and ${kb.length} entries, expected ${n} × ${n} = ${n * n}`);
  const { values, vectors } = symmetricEigen(ka, n);
  // root = V diag(√λ) Vᵀ, the symmetric square root of ka.
  const root = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += (vectors[i * n + k] as number) * Math.sqrt(Math.max(values[k] as number, 0)) * (vectors[j * n + k] as number);
      root[i * n + j] = sum;
      root[j * n + i] = sum;
    }
  }
  const product = transposeTimes(root, transposeTimes(kb, root, n, n, n), n, n, n);
  // Rounding leaves the product slightly asymmetric; the eigen solver reads a symmetric matrix.
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const mean = ((product[i * n + j] as number) + (product[j * n + i] as number)) / 2;
      product[i * n + j] = mean;
      product[j * n + i] = mean;
    }
  }
  return sumOfSingularValues(symmetricEigenvalues(product, n));
}

/** Transposes a [rows, cols] → [cols, rows]. */
export function transpose(a: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c] as number;
  return out;
}

/** Computes aᵀ b for a [rows, aCols] and b [rows, bCols] → [aCols, bCols]. */
export function transposeTimes(a: Float64Array, b: Float64Array, rows: number, aCols: number, bCols: number): Float64Array {
  const out = new Float64Array(aCols * bCols);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < aCols; i++) {
      const x = a[r * aCols + i] as number;
      if (x === 0) continue;
      const row = i * bCols;
      for (let j = 0; j < bCols; j++) out[row + j] = (out[row + j] as number) + x * (b[r * bCols + j] as number);
    }
  }
  return out;
}

/** The orthogonal Procrustes solution for a cross-product matrix. */
export interface ProcrustesSolution {
  /** The (semi-)orthogonal map W [rows, cols] that maximizes trace(Wᵀ M): the polar factor of M. */
  readonly map: Float64Array;
  /** Sum of the singular values of M (its nuclear norm), the maximum of trace(Wᵀ M). */
  readonly nuclearNorm: number;
  /** Singular values of M that were numerically zero, whose directions in W were completed arbitrarily. */
  readonly rankDeficiency: number;
}


function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] as number) * (b[i] as number);
  return sum;
}

/** Removes from `x` its components along `basis` (twice, for stability) and returns its remaining norm. */
function orthogonalize(x: Float64Array, basis: readonly Float64Array[]): number {
  for (let pass = 0; pass < 2; pass++) {
    for (const u of basis) {
      const projection = dot(x, u);
      for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) - projection * (u[i] as number);
    }
  }
  return Math.sqrt(dot(x, x));
}

/**
 * Solves the orthogonal Procrustes problem for the cross-product M = Aᵀ B [rows, cols]: the W with
 * orthonormal columns (rows ≥ cols) or rows (rows < cols) that minimizes ‖A W − B‖_F. With M = U Σ Vᵀ,
 * W = U Vᵀ. U and V come from the eigendecomposition of Mᵀ M (Σ² and V) and U = M V Σ⁻¹. Directions
 * where Σ is numerically zero (fewer examples than dimensions) are completed with an arbitrary orthonormal
 * basis: the data does not determine them.
 */
export function orthogonalProcrustes(m: Float64Array, rows: number, cols: number): ProcrustesSolution {
  if (m.length !== rows * cols) throw new Error(`orthogonalProcrustes: the matrix has ${m.length} entries, expected ${rows} × ${cols}`);
  const gram = transposeTimes(m, m, rows, cols, cols);
  const { values, vectors } = symmetricEigen(gram, cols);
  const rank = Math.min(rows, cols);
  const largest = Math.sqrt(Math.max(values[0] ?? 0, 0));

  const left: Float64Array[] = [];
  const right: Float64Array[] = [];
  const deficient: number[] = [];
  let nuclearNorm = 0;
  for (let j = 0; j < rank; j++) {
    const sigma = Math.sqrt(Math.max(values[j] as number, 0));
    const v = Float64Array.from({ length: cols }, (_, k) => vectors[k * cols + j] as number);
    right.push(v);
    if (sigma <= singularTolerance * largest || sigma === 0) {
      deficient.push(j);
      left.push(new Float64Array(rows));
      continue;
    }
    nuclearNorm += sigma;
    const u = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      for (let k = 0; k < cols; k++) sum += (m[r * cols + k] as number) * (v[k] as number);
      u[r] = sum;
    }
    // Re-orthogonalizing against the earlier columns repairs the accuracy lost by forming Mᵀ M.
    const norm = orthogonalize(
      u,
      left.filter((_, i) => !deficient.includes(i)),
    );
    for (let r = 0; r < rows; r++) u[r] = (u[r] as number) / norm;
    left.push(u);
  }

  // Complete the left singular vectors of zero singular values from the standard basis.
  let candidate = 0;
  for (const j of deficient) {
    const basis = left.filter((_, i) => i !== j && (!deficient.includes(i) || deficient.indexOf(i) < deficient.indexOf(j)));
    for (; candidate < rows; candidate++) {
      const e = new Float64Array(rows);
      e[candidate] = 1;
      const norm = orthogonalize(e, basis);
      if (norm > 1e-6) {
        for (let r = 0; r < rows; r++) e[r] = (e[r] as number) / norm;
        left[j] = e;
        candidate++;
        break;
      }
    }
  }

  const map = new Float64Array(rows * cols);
  for (let j = 0; j < rank; j++) {
    const u = left[j] as Float64Array;
    const v = right[j] as Float64Array;
    for (let r = 0; r < rows; r++) {
      const ur = u[r] as number;
      if (ur === 0) continue;
      for (let k = 0; k < cols; k++) map[r * cols + k] = (map[r * cols + k] as number) + ur * (v[k] as number);
    }
  }
  return { map, nuclearNorm, rankDeficiency: deficient.length };
}
