import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { Rng } from '../tensor/rng.ts';
import { householderQ } from '../tensor/svd.ts';
import { linearCka, pairwiseCka } from './cka.ts';

/** Float64 reference: ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F) straight from the definition. */
function referenceCka(x: Float32Array, y: Float32Array, n: number, d1: number, d2: number): number {
  const center = (a: Float32Array, d: number): Float64Array => {
    const out = Float64Array.from(a);
    for (let j = 0; j < d; j++) {
      let mean = 0;
      for (let i = 0; i < n; i++) mean += out[i * d + j]! / n;
      for (let i = 0; i < n; i++) out[i * d + j]! -= mean;
    }
    return out;
  };
  const cross = (a: Float64Array, da: number, b: Float64Array, db: number): number => {
    let s = 0;
    for (let p = 0; p < da; p++)
      for (let q = 0; q < db; q++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += a[i * da + p]! * b[i * db + q]!;
        s += dot * dot;
      }
    return s;
  };
  const xc = center(x, d1);
  const yc = center(y, d2);
  return cross(xc, d1, yc, d2) / Math.sqrt(cross(xc, d1, xc, d1) * cross(yc, d2, yc, d2));
}

/** x @ Q * scale + shift, with Q a random orthogonal d x d matrix. */
function rotateScaleShift(x: tf.Tensor2D, rng: Rng, scale: number, shift: number): tf.Tensor2D {
  const d = x.shape[1];
  const q = tf.tensor2d(Float32Array.from(householderQ(Float64Array.from(rng.normalArray(d * d)), d, d)), [
    d,
    d,
  ]);
  const out = tf.tidy<tf.Tensor2D>(() => tf.add(tf.mul(tf.matMul(x, q), scale), shift));
  q.dispose();
  return out;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`linear CKA on ${backend}`, () => {
    let tensorsBefore = 0;
    beforeAll(async () => {
      await useBackend(backend);
      tensorsBefore = tf.memory().numTensors;
    });
    afterAll(() => {
      expect(tf.memory().numTensors).toBe(tensorsBefore);
    });

    it('is 1 for a matrix with itself, in both the feature (N > d) and Gram (N <= d) forms', () => {
      for (const [n, d] of [
        [50, 6],
        [8, 30],
      ] as const) {
        const x = new Rng(n).normalTensor([n, d]) as tf.Tensor2D;
        const before = tf.memory().numTensors;
        expect(linearCka(x, x)).toBeCloseTo(1, 5);
        expect(tf.memory().numTensors).toBe(before);
        x.dispose();
      }
    });

    it('is invariant to orthogonal transforms, isotropic scaling and translation', () => {
      const rng = new Rng(2);
      const x = rng.normalTensor([64, 10]) as tf.Tensor2D;
      // y shares half of x's features plus noise: a CKA strictly between 0 and 1.
      const y = tf.tidy(() =>
        tf.concat([tf.slice(x, [0, 0], [64, 5]), rng.normalTensor([64, 7])], 1),
      ) as tf.Tensor2D;
      const base = linearCka(x, y);
      expect(base).toBeGreaterThan(0.2);
      expect(base).toBeLessThan(0.9);
      const x2 = rotateScaleShift(x, rng, 7.5, 3);
      const y2 = rotateScaleShift(y, rng, 0.01, -2);
      expect(linearCka(x2, y2)).toBeCloseTo(base, 4);
      // Not invariant to non-isotropic scaling: stretching one feature changes it (the test can fail).
      const stretched = tf.tidy<tf.Tensor2D>(() => tf.mul(x, tf.tensor2d([[50, 1, 1, 1, 1, 1, 1, 1, 1, 1]])));
      expect(Math.abs(linearCka(stretched, y) - base)).toBeGreaterThan(0.05);
      tf.dispose([x, y, x2, y2, stretched]);
    });

    it('is near 0 for independent data and 0 for a constant matrix', () => {
      const rng = new Rng(3);
      const x = rng.normalTensor([2000, 5]) as tf.Tensor2D;
      const y = rng.normalTensor([2000, 4]) as tf.Tensor2D;
      // Expected value for independent Gaussians is about sqrt(d1 d2) / N = 0.002.
      expect(linearCka(x, y)).toBeLessThan(0.02);
      const constant = tf.fill<tf.Rank.R2>([2000, 3], 0.7);
      expect(linearCka(x, constant)).toBe(0);
      tf.dispose([x, y, constant]);
    });

    it.each([40, 10])(
      'matches a float64 reference with %i samples (feature / Gram form), symmetric, unit diagonal',
      (n) => {
        const rng = new Rng(4);
        const dims = [3, 9, 60];
        const layers = dims.map((d) => rng.normalTensor([n, d]) as tf.Tensor2D);
        // Make layer 1 correlated with layer 0 so the off-diagonal values are not all near 0.
        const mixed = tf.tidy<tf.Tensor2D>(() =>
          tf.add(tf.matMul(layers[0]!, rng.normalTensor([3, 9]) as tf.Tensor2D), tf.mul(layers[1]!, 0.3)),
        );
        const all = [layers[0]!, mixed, layers[2]!];
        const allDims = [3, 9, 60];
        const before = tf.memory().numTensors;
        const matrix = pairwiseCka(all);
        expect(tf.memory().numTensors).toBe(before);
        for (let i = 0; i < 3; i++) {
          expect(matrix[i]![i]).toBe(1);
          for (let j = 0; j < 3; j++) {
            expect(matrix[i]![j]).toBe(matrix[j]![i]);
            const ref = referenceCka(
              all[i]!.dataSync() as Float32Array,
              all[j]!.dataSync() as Float32Array,
              n,
              allDims[i]!,
              allDims[j]!,
            );
            expect(matrix[i]![j]).toBeCloseTo(ref, 5);
          }
        }
        expect(matrix[0]![1]).toBeGreaterThan(0.5);
        tf.dispose([...layers, mixed]);
      },
    );

    it('rejects activations over different numbers of samples', () => {
      const a = tf.zeros<tf.Rank.R2>([10, 2]);
      const b = tf.zeros<tf.Rank.R2>([11, 2]);
      expect(() => pairwiseCka([a, b])).toThrow(/same samples/);
      tf.dispose([a, b]);
    });
  });
}

describe('linear CKA property', () => {
  it('lies in [0, 1], is symmetric and ignores rotation + scaling, across random shapes', async () => {
    await useBackend('cpu');
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 30 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 10_000 }),
        (n, d1, d2, seed) => {
          const rng = new Rng(seed);
          const x = rng.normalTensor([n, d1]) as tf.Tensor2D;
          const y = rng.normalTensor([n, d2]) as tf.Tensor2D;
          const xr = rotateScaleShift(x, rng, 1 + rng.next() * 5, rng.normal());
          const v = linearCka(x, y);
          const ok =
            v >= 0 && v <= 1 && Math.abs(linearCka(y, x) - v) < 1e-6 && Math.abs(linearCka(xr, y) - v) < 1e-4;
          tf.dispose([x, y, xr]);
          return ok;
        },
      ),
      { numRuns: 40, seed: 3 },
    );
  });
});
