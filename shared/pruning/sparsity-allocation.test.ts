import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { allocateByImportance, allocateSparsity, redundancy } from './sparsity-allocation.ts';

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** A symmetric CKA matrix with unit diagonal from a list of off-diagonal values (row-major upper triangle). */
function ckaFromUpper(L: number, upper: number[]): number[][] {
  const m: number[][] = Array.from({ length: L }, (_, i) =>
    Array.from({ length: L }, (_, j) => (i === j ? 1 : 0)),
  );
  let t = 0;
  for (let i = 0; i < L; i++)
    for (let j = i + 1; j < L; j++) {
      const v = upper[t++] ?? 0;
      m[i]![j] = v;
      m[j]![i] = v;
    }
  return m;
}

describe('redundancy', () => {
  it('sums the off-diagonal CKA per layer and min-max normalizes it', () => {
    const cka = ckaFromUpper(3, [0.9, 0.1, 0.2]); // sums: [1.0, 1.1, 0.3]
    const tau = redundancy(cka);
    expect(tau[0]).toBeCloseTo(0.7 / 0.8, 12);
    expect(tau[1]).toBe(1);
    expect(tau[2]).toBe(0);
  });
});

describe('allocateSparsity', () => {
  it('prunes the most redundant layers most, keeping the mean at the target and inside the delta band', () => {
    // Layers 0 and 1 are near-duplicates (redundant), layer 3 is unlike everything (important).
    const cka = ckaFromUpper(4, [0.95, 0.6, 0.1, 0.6, 0.1, 0.05]);
    const { sparsity, tau, importance } = allocateSparsity(cka, { target: 0.5, delta: 0.1 });
    expect(mean(sparsity)).toBeCloseTo(0.5, 12);
    expect(sparsity.every((x) => x >= 0.4 - 1e-12 && x <= 0.6 + 1e-12)).toBe(true);
    // Ranked by redundancy: the two duplicates at the top of the band, the unique layer at the bottom.
    expect(sparsity[0]).toBeCloseTo(0.6, 12);
    expect(sparsity[1]).toBeCloseTo(0.6, 12);
    expect(sparsity[3]).toBeCloseTo(0.4, 12);
    expect(sparsity[2]).toBeCloseTo(0.4, 12);
    expect(tau[3]).toBe(0);
    expect(importance[3]).toBe(1);
  });

  it('gives every layer the target when all layers are equally redundant', () => {
    const { sparsity } = allocateSparsity(ckaFromUpper(3, [0.5, 0.5, 0.5]), { target: 0.3, delta: 0.2 });
    sparsity.forEach((x) => expect(x).toBeCloseTo(0.3, 12));
  });

  it('clips the band at 0 and at maxLayerSparsity, and rejects infeasible options', () => {
    const x = allocateByImportance([3, 2, 1], { target: 0.05, delta: 0.2 }); // band [0, 0.25]
    expect(x).toEqual([0, 0, 0.15000000000000002]);
    expect(() => allocateByImportance([1], { target: 1, delta: 0 })).toThrow(/\[0, 1\)/);
    expect(() => allocateByImportance([1], { target: 0.5, delta: 0.1, maxLayerSparsity: 0.4 })).toThrow(
      /maxLayerSparsity/,
    );
    expect(() => allocateSparsity([[1, 0]], { target: 0.5, delta: 0.1 })).toThrow(/square/);
  });

  it('property: mean = target, bounds hold, monotone in redundancy, and optimal against random feasible points', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 12 }).chain((L) =>
          fc.tuple(
            fc.constant(L),
            fc.array(fc.double({ min: 0, max: 1, noNaN: true }), {
              minLength: (L * (L - 1)) / 2,
              maxLength: (L * (L - 1)) / 2,
            }),
          ),
        ),
        fc.double({ min: 0, max: 0.9, noNaN: true }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.double({ min: 0.1, max: 10, noNaN: true }),
        ([L, upper], target, delta, beta) => {
          const {
            sparsity: x,
            tau,
            importance,
          } = allocateSparsity(ckaFromUpper(L, upper), { target, delta, beta });
          const lo = Math.max(0, target - delta);
          const hi = Math.min(0.99, target + delta);
          let ok =
            Math.abs(mean(x) - target) < 1e-9 && x.every((v) => v >= lo - 1e-12 && v <= hi + 1e-12 && v < 1);
          // More redundant => pruned at least as much.
          for (let i = 0; i < L; i++)
            for (let j = 0; j < L; j++) if (tau[i]! > tau[j]! + 1e-9) ok &&= x[i]! >= x[j]! - 1e-12;
          // Optimality: moving eps of sparsity between any two layers within the band never lowers the cost.
          const cost = (v: number[]): number => v.reduce((a, s, i) => a + s * importance[i]!, 0);
          const base = cost(x);
          for (let i = 0; i < L; i++)
            for (let j = 0; j < L; j++) {
              const eps = Math.min(x[i]! - lo, hi - x[j]!);
              if (i === j || eps <= 1e-12) continue;
              const y = [...x];
              y[i]! -= eps;
              y[j]! += eps;
              ok &&= cost(y) >= base - 1e-9;
            }
          return ok;
        },
      ),
      { numRuns: 100, seed: 4 },
    );
  });
});
