import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cubicSparsity, planSparsitySchedule } from './schedule.ts';

describe('cubic sparsity schedule', () => {
  it('matches S (1 - (1 - t/T)^3) and ends exactly at S', () => {
    const plan = planSparsitySchedule(0.5);
    expect(plan.map((p) => p.step)).toEqual([1, 2, 3, 4, 5]);
    expect(plan[0]!.sparsity).toBeCloseTo(0.5 * (1 - 0.8 ** 3), 12); // 0.244
    expect(plan[2]!.sparsity).toBeCloseTo(0.5 * (1 - 0.4 ** 3), 12);
    expect(plan[4]!.sparsity).toBe(0.5);
    expect(cubicSparsity(0.5, 0)).toBe(0);
  });

  it('rejects steps outside [0, T] and targets outside [0, 1)', () => {
    expect(() => cubicSparsity(0.5, 6, 5)).toThrow(/\[0, 5\]/);
    expect(() => planSparsitySchedule(1)).toThrow(/\[0, 1\)/);
    expect(() => planSparsitySchedule(0.5, 0)).toThrow(/positive integer/);
  });

  it('property: strictly increasing with shrinking increments, ending at the target', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        fc.integer({ min: 1, max: 20 }),
        (s, T) => {
          const xs = [0, ...planSparsitySchedule(s, T).map((p) => p.sparsity)];
          let ok = xs[T] === s;
          for (let t = 1; t <= T; t++) ok &&= xs[t]! > xs[t - 1]!;
          for (let t = 2; t <= T; t++) ok &&= xs[t]! - xs[t - 1]! <= xs[t - 1]! - xs[t - 2]! + 1e-12;
          return ok;
        },
      ),
      { numRuns: 100, seed: 6 },
    );
  });
});
