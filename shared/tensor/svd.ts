/**
 * Truncated SVD by randomized subspace iteration (Halko, Martinsson & Tropp 2011, Alg. 4.4 + 5.1).
 *
 * TF.js has QR but no SVD, and PiCa needs the top-r left singular vectors of every adapted base kernel on every
 * client. The big products (`A Q`, `A^T Q`) run on the active backend; everything of size (r+p) stays on the
 * host in Float64:
 *  - orthonormalization is a Householder QR on host arrays, because `tf.linalg.qr` is built from many small ops:
 *    measured 0.4 s on wasm and 22 s on cpu for a 1024 x 40 matrix, against a few ms here;
 *  - the exact SVD of the small projected matrix `B = Q^T A` ((r+p) x n) is ml-matrix's (Golub-Kahan), taken on
 *    the (r+p) x (r+p) R factor of `B^T` rather than on `B^T` itself (3x faster at r+p = 264).
 *
 * Accuracy/speed trade-off of the defaults (oversample p = 8, powerIterations q = 4): the expected spectral
 * error of the captured subspace is within a factor of about `(1 + sqrt(r/(p-1)) + e sqrt(r+p) sqrt(min(m,n)-r)/p)^(1/(2q+1))`
 * of the optimal `sigma_{r+1}`. With q = 4 that factor is raised to the 1/9th power, so singular values and
 * vectors separated by a modest gap come out to float32 precision; the price is 2q+2 = 10 products of A with
 * an n x (r+p) / m x (r+p) block and 2q+2 = 10 host QRs of O(max(m, n) (r+p)^2). q = 1-2 is often enough for a fast
 * decaying spectrum; a flat spectrum (no gap after r) makes the individual vectors ill-defined at any q.
 * Measured on wasm (shared 2-core box, defaults): 256 x 256 at r = 16 in ~40-60 ms, 256 x 1024 at r = 64 in
 * ~0.3 s, 1024 x 1024 at r = 256 in ~3-5 s, where the host QRs dominate (~0.2 s each at 1024 x 264).
 *
 * Reproducibility: the Gaussian test matrix comes from the caller's `Rng`, and signs are canonicalized, so two
 * clients holding the same kernel derive the same `U` (to float32 rounding) even from different seeds, as long
 * as the spectrum has a gap after r.
 */
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { tf } from './tf.ts';
import type { Rng } from './rng.ts';
import { FedpeftError } from '../errors.ts';

export interface SvdResult {
  /** `[m, r]`, orthonormal columns: the top-r left singular vectors. */
  U: tf.Tensor2D;
  /** `[r]`, descending. */
  S: Float32Array;
  /** `[n, r]`, orthonormal columns: the matching right singular vectors (`A ~= U diag(S) V^T`). */
  V: tf.Tensor2D;
}

export interface RandomizedSvdOptions {
  /** Source of the Gaussian test matrix. It is advanced (fork it per layer for independent streams). */
  rng: Rng;
  /** Extra sample columns beyond `rank` (default 8): more columns capture the top-r subspace more reliably. */
  oversample?: number;
  /** Power (subspace) iterations (default 4): each one sharpens the spectrum's decay by another two powers. */
  powerIterations?: number;
}

export const DEFAULT_OVERSAMPLE = 8;
export const DEFAULT_POWER_ITERATIONS = 4;

/**
 * Top-`rank` SVD of `matrix` (`[m, n]`). The caller owns the returned tensors; `matrix` is not disposed.
 * Throws `INVALID_RANK` when rank is not an integer in [1, min(m, n)].
 */
export function randomizedSvd(matrix: tf.Tensor2D, rank: number, options: RandomizedSvdOptions): SvdResult {
  if (matrix.rank !== 2) {
    throw new FedpeftError(
      'INVALID_SHAPE',
      `randomizedSvd needs a 2-D matrix, got shape [${matrix.shape.join(', ')}]`,
    );
  }
  const [m, n] = matrix.shape;
  if (!Number.isInteger(rank) || rank < 1 || rank > Math.min(m, n)) {
    throw new FedpeftError(
      'INVALID_RANK',
      `SVD rank must be an integer in [1, min(m, n)] = [1, ${Math.min(m, n)}] for a ${m} x ${n} matrix, got ${rank}; lower the adapter rank`,
    );
  }
  const oversample = options.oversample ?? DEFAULT_OVERSAMPLE;
  const powerIterations = options.powerIterations ?? DEFAULT_POWER_ITERATIONS;
  if (!Number.isInteger(oversample) || oversample < 0) {
    throw new FedpeftError('INVALID_OPTION', `oversample must be a non-negative integer, got ${oversample}`);
  }
  if (!Number.isInteger(powerIterations) || powerIterations < 0) {
    throw new FedpeftError(
      'INVALID_OPTION',
      `powerIterations must be a non-negative integer, got ${powerIterations}`,
    );
  }
  // More than min(m, n) samples cannot add information (and a thin QR needs k <= rows).
  const k = Math.min(rank + oversample, m, n);

  // A^T is materialized once: wasm's transposed matMul is ~20x slower than a plain one (design §6).
  const At = tf.transpose(matrix);
  const tensors: tf.Tensor[] = [At];
  try {
    const G = options.rng.normalTensor([n, k]) as tf.Tensor2D;
    tensors.push(G);
    let Q = orthonormalizedTensor(matrix, G, m, k, tensors);
    for (let i = 0; i < powerIterations; i++) {
      const Z = orthonormalizedTensor(At, Q, n, k, tensors);
      Q = orthonormalizedTensor(matrix, Z, m, k, tensors);
    }
    // B = Q^T A is k x n. Its SVD goes through B^T = A^T Q = Qb R (n x k, host QR) and the SVD of the k x k
    // R = Ur diag(s) Zr^T: ml-matrix on the square R is ~3x faster than on the tall B^T (0.3 vs 2.1 s at k = 264).
    // Then A ~= Q B = (Q Zr) diag(s) (Qb Ur)^T, so U = Q Zr and V = Qb Ur.
    const Bt = tf.matMul(At, Q);
    tensors.push(Bt);
    const { q: qb, r: rb } = householderQr(Float64Array.from(Bt.dataSync()), n, k);
    const small = new SingularValueDecomposition(new Matrix(rowsOf(rb, k, k)), { autoTranspose: false });
    const s = small.diagonal;
    const Ur = small.leftSingularVectors;
    const Zr = small.rightSingularVectors;
    const order = descendingOrder(s).slice(0, rank);
    const zTop = new Float32Array(k * rank);
    const urTop = new Float32Array(k * rank);
    const S = new Float32Array(rank);
    order.forEach((src, dst) => {
      S[dst] = s[src] ?? 0;
      for (let i = 0; i < k; i++) {
        zTop[i * rank + dst] = Zr.get(i, src);
        urTop[i * rank + dst] = Ur.get(i, src);
      }
    });
    const qbTensor = tf.tensor2d(Float32Array.from(qb), [n, k]);
    const urTensor = tf.tensor2d(urTop, [k, rank]);
    const vRaw: tf.Tensor2D = tf.matMul(qbTensor, urTensor);
    tensors.push(qbTensor, urTensor, vRaw);
    const zTensor = tf.tensor2d(zTop, [k, rank]);
    const uRaw: tf.Tensor2D = tf.matMul(Q, zTensor);
    tensors.push(zTensor, uRaw);
    const { U, V } = canonicalizeSigns(uRaw, vRaw);
    return { U, S, V };
  } finally {
    for (const t of tensors) t.dispose();
  }
}

/**
 * Fix the sign ambiguity of singular vector pairs: the largest-magnitude entry of each U column is made positive
 * and the matching V column is flipped with it (so `U diag(S) V^T` is unchanged). On an exact tie in magnitude
 * the first such row wins. Returns new tensors (the caller owns them); the inputs are not disposed.
 */
export function canonicalizeSigns(U: tf.Tensor2D, V: tf.Tensor2D): { U: tf.Tensor2D; V: tf.Tensor2D } {
  const [rows, cols] = U.shape;
  if (V.shape[1] !== cols) {
    throw new FedpeftError('INVALID_SHAPE', `U has ${cols} columns but V has ${V.shape[1]}`);
  }
  const u = U.dataSync();
  const signs = new Float32Array(cols);
  for (let j = 0; j < cols; j++) {
    let best = 0;
    let bestAbs = -1;
    for (let i = 0; i < rows; i++) {
      const v = u[i * cols + j] ?? 0;
      if (Math.abs(v) > bestAbs) {
        bestAbs = Math.abs(v);
        best = v;
      }
    }
    signs[j] = best < 0 ? -1 : 1;
  }
  return tf.tidy(() => {
    const sgn = tf.tensor2d(signs, [1, cols]);
    return { U: tf.mul(U, sgn), V: tf.mul(V, sgn) };
  });
}

/** `orth(A X)` as a float32 tensor; intermediate and result tensors are pushed onto `owned` for disposal. */
function orthonormalizedTensor(
  A: tf.Tensor2D,
  X: tf.Tensor2D,
  rows: number,
  cols: number,
  owned: tf.Tensor[],
): tf.Tensor2D {
  const Y = tf.matMul(A, X);
  owned.push(Y);
  const { q } = householderQr(Float64Array.from(Y.dataSync()), rows, cols);
  const Q = tf.tensor2d(Float32Array.from(q), [rows, cols]);
  owned.push(Q);
  return Q;
}

/**
 * Thin QR of a row-major `rows x cols` matrix (cols <= rows) by Householder reflections: `q` is `rows x cols`
 * with orthonormal columns, `r` is `cols x cols` upper triangular, both row-major, `a = q r`. Unlike
 * Gram-Schmidt, `q` stays orthonormal when the input is rank-deficient or badly conditioned, which is the normal
 * case here: power iterations push all columns towards the top singular vector.
 */
export function householderQr(
  a: Float64Array,
  rows: number,
  cols: number,
): { q: Float64Array; r: Float64Array } {
  if (cols > rows) throw new Error(`householderQr needs cols <= rows, got ${rows} x ${cols}`);
  // Column-major working copy: every reflection walks down columns.
  const R = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) R[j * rows + i] = a[i * cols + j] ?? 0;
  const vs: Float64Array[] = [];
  for (let j = 0; j < cols; j++) {
    const len = rows - j;
    const v = new Float64Array(len);
    let norm2 = 0;
    for (let i = 0; i < len; i++) {
      const x = R[j * rows + j + i] ?? 0;
      v[i] = x;
      norm2 += x * x;
    }
    const norm = Math.sqrt(norm2);
    if (norm === 0) {
      vs.push(new Float64Array(len)); // nothing to reflect: H_j = I, and R's column j is already final
      continue;
    }
    const x0 = v[0] ?? 0;
    const alpha = x0 >= 0 ? -norm : norm; // the sign that avoids cancellation in v0 - alpha
    // H_j maps the column onto alpha e_j: write that directly instead of reflecting it.
    R[j * rows + j] = alpha;
    for (let i = 1; i < len; i++) R[j * rows + j + i] = 0;
    v[0] = x0 - alpha;
    const vNorm = Math.sqrt(norm2 - x0 * x0 + (x0 - alpha) * (x0 - alpha));
    for (let i = 0; i < len; i++) v[i] = (v[i] ?? 0) / vNorm;
    vs.push(v);
    for (let c = j + 1; c < cols; c++) reflect(R, c * rows + j, v);
  }
  // Backward accumulation Q = H_0 ... H_{cols-1} [I; 0]: reflection j only touches rows >= j of columns >= j.
  const Qc = new Float64Array(rows * cols);
  for (let j = 0; j < cols; j++) Qc[j * rows + j] = 1;
  for (let j = cols - 1; j >= 0; j--) {
    const v = vs[j] as Float64Array;
    for (let c = j; c < cols; c++) reflect(Qc, c * rows + j, v);
  }
  const q = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) q[i * cols + j] = Qc[j * rows + i] ?? 0;
  const r = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) for (let j = i; j < cols; j++) r[i * cols + j] = R[j * rows + i] ?? 0;
  return { q, r };
}

/** The orthonormal factor of `householderQr`. */
export function householderQ(a: Float64Array, rows: number, cols: number): Float64Array {
  return householderQr(a, rows, cols).q;
}

/** x <- (I - 2 v v^T) x for the segment of `buf` starting at `offset` with v's length. */
function reflect(buf: Float64Array, offset: number, v: Float64Array): void {
  let dot = 0;
  const n = v.length;
  for (let i = 0; i < n; i++) dot += v[i]! * buf[offset + i]!;
  if (dot === 0) return;
  const f = 2 * dot;
  for (let i = 0; i < n; i++) buf[offset + i]! -= f * v[i]!;
}

function rowsOf(data: ArrayLike<number>, rows: number, cols: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < rows; i++) out.push(Array.from({ length: cols }, (_, j) => data[i * cols + j] ?? 0));
  return out;
}

/** Indices sorting `values` descending (ml-matrix returns them sorted; this makes it a guarantee, not an assumption). */
function descendingOrder(values: readonly number[]): number[] {
  return values.map((_, i) => i).sort((a, b) => (values[b] ?? 0) - (values[a] ?? 0) || a - b);
}
