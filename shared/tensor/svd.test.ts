import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { tf } from './tf.ts';
import { useBackend } from './backend.ts';
import { Rng } from './rng.ts';
import { canonicalizeSigns, householderQ, householderQr, randomizedSvd } from './svd.ts';

/** A row-major m x k matrix with orthonormal columns (QR of a Gaussian). */
function orthonormal(rng: Rng, m: number, k: number): Float64Array {
  return householderQ(Float64Array.from(rng.normalArray(m * k)), m, k);
}

/** `U diag(s) V^T` as a row-major Float64Array, with U [m,k], V [n,k] row-major. */
function compose(U: Float64Array, s: number[], V: Float64Array, m: number, n: number): Float64Array {
  const k = s.length;
  const a = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let t = 0; t < k; t++) acc += (U[i * k + t] ?? 0) * (s[t] ?? 0) * (V[j * k + t] ?? 0);
      a[i * n + j] = acc;
    }
  return a;
}

function toMatrix(data: ArrayLike<number>, rows: number, cols: number): Matrix {
  const m = new Matrix(rows, cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) m.set(i, j, data[i * cols + j] ?? 0);
  return m;
}

/** Largest sine of the principal angles between the column spaces of two orthonormal bases. */
function maxPrincipalSine(A: Matrix, B: Matrix): number {
  const cosines = new SingularValueDecomposition(A.transpose().mmul(B)).diagonal;
  const minCos = Math.min(...cosines);
  return Math.sqrt(Math.max(0, 1 - minCos * minCos));
}

function gramError(t: tf.Tensor2D): number {
  return tf.tidy(() => {
    const g = tf.matMul(tf.transpose(t), t);
    return tf.max(tf.abs(tf.sub(g, tf.eye(t.shape[1])))).dataSync()[0] ?? NaN;
  });
}

/** Columns in [m, k], a decaying spectrum with a clear gap after `gapAfter`. */
function spectrumWithGap(k: number, gapAfter: number): number[] {
  return Array.from({ length: k }, (_, i) => (i < gapAfter ? 10 * 0.8 ** i : 0.05 * 0.9 ** (i - gapAfter)));
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`randomizedSvd on ${backend}`, () => {
    let tensorsBefore = 0;
    beforeAll(async () => {
      await useBackend(backend);
      tensorsBefore = tf.memory().numTensors;
    });
    afterAll(() => {
      // Every test disposes what it creates, so the whole file leaves no tensor behind.
      expect(tf.memory().numTensors).toBe(tensorsBefore);
    });

    it('recovers a constructed spectrum: values to 1e-4 relative, subspaces to tiny principal angles', () => {
      const [m, n, r] = [70, 50, 6];
      const rng = new Rng(11);
      const s = spectrumWithGap(n, r);
      const U0 = orthonormal(rng, m, n);
      const V0 = orthonormal(rng, n, n);
      const A = tf.tensor2d(Float32Array.from(compose(U0, s, V0, m, n)), [m, n]);
      const before = tf.memory().numTensors;
      const { U, S, V } = randomizedSvd(A, r, { rng: new Rng(5) });
      expect(tf.memory().numTensors).toBe(before + 2);
      expect(U.shape).toEqual([m, r]);
      expect(V.shape).toEqual([n, r]);
      for (let i = 0; i < r; i++) {
        expect(Math.abs((S[i] ?? 0) - (s[i] ?? 0)) / (s[i] ?? 1)).toBeLessThan(1e-4);
      }
      const topU0 = toMatrix(U0, m, n).subMatrix(0, m - 1, 0, r - 1);
      const topV0 = toMatrix(V0, n, n).subMatrix(0, n - 1, 0, r - 1);
      expect(maxPrincipalSine(topU0, toMatrix(U.dataSync(), m, r))).toBeLessThan(1e-3);
      expect(maxPrincipalSine(topV0, toMatrix(V.dataSync(), n, r))).toBeLessThan(1e-3);
      // Each individual vector (not just the subspace) matches, because the spectrum has distinct values.
      const u = U.dataSync();
      for (let j = 0; j < r; j++) {
        let dot = 0;
        for (let i = 0; i < m; i++) dot += (u[i * r + j] ?? 0) * (U0[i * n + j] ?? 0);
        expect(Math.abs(dot)).toBeGreaterThan(1 - 1e-5);
      }
      tf.dispose([A, U, V]);
    });

    it('matches ml-matrix full SVD on random matrices with a decaying spectrum', () => {
      const [m, n, r] = [40, 64, 8];
      const rng = new Rng(3);
      // Gaussian rows scaled by a geometric column decay: a generic matrix whose spectrum decays steadily.
      const data = rng.normalArray(m * n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) data[i * n + j]! *= 0.85 ** j;
      const A = tf.tensor2d(data, [m, n]);
      const exact = new SingularValueDecomposition(toMatrix(data, m, n), { autoTranspose: true });
      const { U, S, V } = randomizedSvd(A, r, { rng: new Rng(8) });
      const ref = exact.diagonal;
      for (let i = 0; i < r; i++)
        expect(Math.abs((S[i] ?? 0) - (ref[i] ?? 0)) / (ref[i] ?? 1)).toBeLessThan(1e-4);
      for (let i = 1; i < r; i++) expect(S[i]).toBeLessThanOrEqual(S[i - 1] ?? Infinity);
      const refU = exact.leftSingularVectors.subMatrix(0, m - 1, 0, r - 1);
      expect(maxPrincipalSine(refU, toMatrix(U.dataSync(), m, r))).toBeLessThan(2e-3);
      tf.dispose([A, U, V]);
    });

    it('returns orthonormal U and V (U^T U = I to 1e-5)', () => {
      const A = new Rng(4).normalTensor([90, 33]) as tf.Tensor2D;
      const { U, V } = randomizedSvd(A, 12, { rng: new Rng(1) });
      expect(gramError(U)).toBeLessThan(1e-5);
      expect(gramError(V)).toBeLessThan(1e-5);
      tf.dispose([A, U, V]);
    });

    it('gives the same U from different seeds (sign canonicalization), and the same bits from the same seed', () => {
      const [m, n, r] = [64, 48, 5];
      const rng = new Rng(21);
      const A = tf.tensor2d(
        Float32Array.from(
          compose(orthonormal(rng, m, n), spectrumWithGap(n, r), orthonormal(rng, n, n), m, n),
        ),
        [m, n],
      );
      const a = randomizedSvd(A, r, { rng: new Rng(100) });
      const b = randomizedSvd(A, r, { rng: new Rng(200) });
      const c = randomizedSvd(A, r, { rng: new Rng(100) });
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a.U, b.U))).dataSync()[0] ?? NaN);
      expect(diff).toBeLessThan(1e-5);
      const diffV = tf.tidy(() => tf.max(tf.abs(tf.sub(a.V, b.V))).dataSync()[0] ?? NaN);
      expect(diffV).toBeLessThan(1e-5);
      expect(Array.from(c.U.dataSync())).toEqual(Array.from(a.U.dataSync()));
      tf.dispose([A, a.U, a.V, b.U, b.V, c.U, c.V]);
    });

    it('rejects a rank outside [1, min(m, n)] with a message naming the limit', () => {
      const A = tf.zeros<tf.Rank.R2>([10, 6]);
      const before = tf.memory().numTensors;
      expect(() => randomizedSvd(A, 7, { rng: new Rng(1) })).toThrow(/\[1, 6\].*got 7/);
      expect(() => randomizedSvd(A, 0, { rng: new Rng(1) })).toThrow(/rank/);
      expect(() => randomizedSvd(A, 2.5, { rng: new Rng(1) })).toThrow(/rank/);
      expect(() => randomizedSvd(A, 2, { rng: new Rng(1), oversample: -1 })).toThrow(/oversample/);
      expect(tf.memory().numTensors).toBe(before);
      A.dispose();
    });

    it('handles rank-deficient input (zero singular values) with orthonormal output', () => {
      // Rank 2, asked for 4: the extra directions are arbitrary but must still be orthonormal.
      const rng = new Rng(9);
      const [m, n] = [20, 15];
      const A = tf.tensor2d(
        Float32Array.from(compose(orthonormal(rng, m, 2), [3, 1], orthonormal(rng, n, 2), m, n)),
        [m, n],
      );
      const { U, S, V } = randomizedSvd(A, 4, { rng: new Rng(2) });
      expect(S[0]).toBeCloseTo(3, 4);
      expect(S[1]).toBeCloseTo(1, 4);
      expect(Math.abs(S[2] ?? NaN)).toBeLessThan(1e-5);
      expect(gramError(U)).toBeLessThan(1e-5);
      tf.dispose([A, U, V]);
    });

    it('property: orthonormal factors and a near-optimal Frobenius reconstruction across random shapes', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 2, max: 36 }),
          fc.integer({ min: 2, max: 36 }),
          fc.integer({ min: 1, max: 1000 }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          (m, n, seed, rankFrac) => {
            const rank = 1 + Math.floor(rankFrac * (Math.min(m, n) - 1));
            const data = new Rng(seed).normalArray(m * n);
            const A = tf.tensor2d(data, [m, n]);
            const before = tf.memory().numTensors;
            const { U, S, V } = randomizedSvd(A, rank, { rng: new Rng(seed + 1) });
            const residual = tf.tidy(() => {
              const recon = tf.matMul(tf.mul(U, tf.tensor2d(S, [1, rank])), tf.transpose(V));
              return Math.sqrt(tf.sum(tf.square(tf.sub(A, recon))).dataSync()[0] ?? NaN);
            });
            const exact = new SingularValueDecomposition(toMatrix(data, m, n), { autoTranspose: true })
              .diagonal;
            const optimal = Math.sqrt(exact.slice(rank).reduce((acc, x) => acc + x * x, 0));
            const scale = Math.sqrt(exact.reduce((acc, x) => acc + x * x, 0));
            const ok =
              gramError(U) < 1e-5 &&
              gramError(V) < 1e-5 &&
              residual <= 1.05 * optimal + 1e-5 * scale &&
              tf.memory().numTensors === before + 2;
            tf.dispose([A, U, V]);
            return ok;
          },
        ),
        { numRuns: 30, seed: 7 },
      );
    });
  });
}

describe('canonicalizeSigns', () => {
  it('makes the largest-|.| entry of each U column positive and flips V with it', async () => {
    await useBackend('cpu');
    const U = tf.tensor2d([0.1, -0.9, -0.8, 0.2, 0.3, 0.1], [3, 2]);
    const V = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const out = canonicalizeSigns(U, V);
    expect(Array.from(out.U.dataSync())).toEqual(
      Array.from(new Float32Array([-0.1, 0.9, 0.8, -0.2, -0.3, -0.1])),
    );
    expect(Array.from(out.V.dataSync())).toEqual([-1, -2, -3, -4]);
    // Idempotent, and the input sign does not matter.
    const negU = tf.neg(U);
    const negV = tf.neg(V);
    const again = canonicalizeSigns(negU, negV);
    expect(Array.from(again.U.dataSync())).toEqual(Array.from(out.U.dataSync()));
    expect(Array.from(again.V.dataSync())).toEqual(Array.from(out.V.dataSync()));
    tf.dispose([U, V, negU, negV, out.U, out.V, again.U, again.V]);
  });
});

describe('householderQr', () => {
  it('is orthonormal and spans the input columns, even with dependent and zero columns', () => {
    const [rows, cols] = [12, 5];
    const a = Float64Array.from(new Rng(1).normalArray(rows * cols));
    for (let i = 0; i < rows; i++) {
      a[i * cols + 3] = 2 * (a[i * cols + 0] ?? 0); // dependent column
      a[i * cols + 4] = 0; // zero column
    }
    const { q, r } = householderQr(a, rows, cols);
    const Q = toMatrix(q, rows, cols);
    const R = toMatrix(r, cols, cols);
    for (let i = 0; i < cols; i++) for (let j = 0; j < i; j++) expect(R.get(i, j)).toBe(0);
    const gram = Q.transpose().mmul(Q);
    for (let i = 0; i < cols; i++)
      for (let j = 0; j < cols; j++) expect(gram.get(i, j)).toBeCloseTo(i === j ? 1 : 0, 12);
    const A = toMatrix(a, rows, cols);
    const projected = Q.mmul(Q.transpose().mmul(A));
    expect(projected.sub(A).norm()).toBeLessThan(1e-12 * A.norm());
    expect(Q.mmul(R).sub(A).norm()).toBeLessThan(1e-12 * A.norm());
  });
});
