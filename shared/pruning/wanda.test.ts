import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { Rng } from '../tensor/rng.ts';
import { inputFeatureNorms, parseNmPattern, wandaPrune, wandaScores } from './wanda.ts';

beforeAll(async () => {
  await useBackend('cpu');
});

/** Kernel `[in, out]` from a list of columns. */
function fromColumns(columns: number[][]): tf.Tensor2D {
  const rows = columns[0]?.length ?? 0;
  const data = new Float32Array(rows * columns.length);
  columns.forEach((col, j) => col.forEach((v, i) => (data[i * columns.length + j] = v)));
  return tf.tensor2d(data, [rows, columns.length]);
}

function column(data: ArrayLike<number>, rows: number, cols: number, j: number): number[] {
  return Array.from({ length: rows }, (_, i) => data[i * cols + j] ?? NaN);
}

describe('wandaPrune (unstructured)', () => {
  it('prunes exactly the planted set: activation-aware, within each output column', () => {
    // Column 0: the largest weight (30, row 3) multiplies a nearly silent feature and is pruned, while the small
    // weight 0.5 on the loud feature (row 1) is kept: magnitude pruning would do the opposite.
    const K = fromColumns([
      [5, 0.5, 1, 30, -4, 0.5],
      [1, 2, 3, 4, 5, 6],
    ]);
    const norms = new Float32Array([1, 10, 1, 0.01, 1, 1]);
    // scores col 0: [5, 5, 1, 0.3, 4, 0.5] -> prune rows 3, 5, 2; col 1: [1, 20, 3, 0.04, 5, 6] -> prune rows 3, 0, 2
    const before = tf.memory().numTensors;
    const { kernel, mask, sparsity } = wandaPrune(K, norms, { kind: 'unstructured', sparsity: 0.5 });
    expect(tf.memory().numTensors).toBe(before + 2);
    const m = mask.dataSync();
    expect(column(m, 6, 2, 0)).toEqual([1, 1, 0, 0, 1, 0]);
    expect(column(m, 6, 2, 1)).toEqual([0, 1, 0, 0, 1, 1]);
    expect(column(kernel.dataSync(), 6, 2, 0)).toEqual([5, 0.5, 0, 0, -4, 0]);
    expect(column(kernel.dataSync(), 6, 2, 1)).toEqual([0, 2, 0, 0, 5, 6]);
    expect(sparsity).toBe(0.5);
    tf.dispose([K, kernel, mask]);
  });

  it('breaks ties deterministically: among equal scores the lower input index is pruned first', () => {
    const K = fromColumns([[1, 1, 1, 1, 1]]);
    const { kernel, mask } = wandaPrune(K, new Float32Array(5).fill(1), {
      kind: 'unstructured',
      sparsity: 0.4,
    });
    expect(Array.from(mask.dataSync())).toEqual([0, 0, 1, 1, 1]);
    tf.dispose([K, kernel, mask]);
  });

  it('property: every column loses exactly round(s * in) weights, all scoring no higher than any kept one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 1, max: 6 }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        fc.integer({ min: 0, max: 10_000 }),
        (rows, cols, s, seed) => {
          const rng = new Rng(seed);
          const K = rng.normalTensor([rows, cols]) as tf.Tensor2D;
          const norms = rng.uniformArray(rows, 0, 3);
          const before = tf.memory().numTensors;
          const { kernel, mask, sparsity } = wandaPrune(K, norms, { kind: 'unstructured', sparsity: s });
          const scores = wandaScores(K, norms);
          const md = mask.dataSync();
          const expectPruned = Math.round(s * rows);
          let ok = Math.abs(sparsity - expectPruned / rows) < 1e-12;
          for (let j = 0; j < cols; j++) {
            const keep = column(md, rows, cols, j);
            const sc = column(scores, rows, cols, j);
            const pruned = sc.filter((_, i) => keep[i] === 0);
            const kept = sc.filter((_, i) => keep[i] === 1);
            ok &&= pruned.length === expectPruned;
            ok &&= pruned.length === 0 || kept.length === 0 || Math.max(...pruned) <= Math.min(...kept);
          }
          ok &&= tf.memory().numTensors === before + 2;
          tf.dispose([K, kernel, mask]);
          return ok;
        },
      ),
      { numRuns: 60, seed: 1 },
    );
  });

  it('rejects a norm vector of the wrong length and a sparsity outside [0, 1)', () => {
    const K = tf.ones<tf.Rank.R2>([4, 2]);
    const before = tf.memory().numTensors;
    expect(() => wandaPrune(K, new Float32Array(3), { kind: 'unstructured', sparsity: 0.5 })).toThrow(
      /one input norm per kernel row/,
    );
    expect(() => wandaPrune(K, new Float32Array(4), { kind: 'unstructured', sparsity: 1 })).toThrow(
      /\[0, 1\)/,
    );
    expect(tf.memory().numTensors).toBe(before);
    K.dispose();
  });
});

describe('wandaPrune (N:M)', () => {
  it('keeps the top-N scores of every group of M consecutive inputs (planted 2:4)', () => {
    const K = fromColumns([[4, 1, 3, 2, 0.1, 0.3, 0.2, 0.4]]);
    const { kernel, mask, sparsity } = wandaPrune(K, new Float32Array(8).fill(1), {
      kind: 'n:m',
      n: 2,
      m: 4,
    });
    expect(Array.from(mask.dataSync())).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
    expect(sparsity).toBe(0.5);
    tf.dispose([K, kernel, mask]);
  });

  it('property: at most N nonzeros in every group of M, exactly min(N, group) kept, the best of the group', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }).chain((m) => fc.tuple(fc.constant(m), fc.integer({ min: 0, max: m }))),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 10_000 }),
        ([m, n], rows, cols, seed) => {
          const rng = new Rng(seed);
          const K = rng.normalTensor([rows, cols]) as tf.Tensor2D;
          const norms = rng.uniformArray(rows, 0.1, 2);
          const { kernel, mask } = wandaPrune(K, norms, { kind: 'n:m', n, m });
          const md = mask.dataSync();
          const kd = kernel.dataSync();
          const scores = wandaScores(K, norms);
          let ok = true;
          for (let j = 0; j < cols; j++) {
            for (let start = 0; start < rows; start += m) {
              const idx = Array.from({ length: Math.min(m, rows - start) }, (_, t) => start + t);
              const keptIdx = idx.filter((i) => md[i * cols + j] === 1);
              const nonzeros = idx.filter((i) => kd[i * cols + j] !== 0).length;
              ok &&= keptIdx.length === Math.min(n, idx.length) && nonzeros <= n;
              const keptScores = keptIdx.map((i) => scores[i * cols + j] ?? 0);
              const prunedScores = idx
                .filter((i) => md[i * cols + j] === 0)
                .map((i) => scores[i * cols + j] ?? 0);
              ok &&= keptScores.length === 0 || prunedScores.every((p) => p <= Math.min(...keptScores));
            }
          }
          tf.dispose([K, kernel, mask]);
          return ok;
        },
      ),
      { numRuns: 60, seed: 2 },
    );
  });

  it('parses "2:4" and rejects N > M with an actionable message', () => {
    expect(parseNmPattern('2:4')).toEqual({ n: 2, m: 4 });
    expect(parseNmPattern(' 1 : 8 ')).toEqual({ n: 1, m: 8 });
    expect(() => parseNmPattern('4:2')).toThrow(/0 <= N <= M/);
    expect(() => parseNmPattern('half')).toThrow(/"2:4"/);
  });
});

describe('inputFeatureNorms', () => {
  it('is the L2 norm of each input feature over the calibration tokens', () => {
    const X = tf.tensor2d([3, 0, 1, 0, 4, 2, 0, 0, 2], [3, 3]);
    const before = tf.memory().numTensors;
    const norms = inputFeatureNorms(X);
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(norms)).toEqual([3, 4, 3]);
    X.dispose();
  });
});
