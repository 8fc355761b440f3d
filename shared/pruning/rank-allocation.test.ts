import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { allocateRanks } from './rank-allocation.ts';

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

describe('allocateRanks', () => {
  it('is proportional to the errors when no clip binds', () => {
    expect(allocateRanks([1, 2, 3, 2], { targetRank: 8, maxRank: 64 })).toEqual([4, 8, 12, 8]);
  });

  it('clips at maxRank and redistributes the excess proportionally, preserving the total', () => {
    // Budget 4 * 8 = 32; unclipped shares would be [1.6, 1.6, 1.6, 27.2] -> layer 3 clips to 16, the other
    // 16 is split evenly among the equal-error layers.
    const ranks = allocateRanks([1, 1, 1, 17], { targetRank: 8, maxRank: 16 });
    expect(ranks[3]).toBe(16);
    expect(sum(ranks)).toBe(32);
    expect(ranks.slice(0, 3).sort()).toEqual([5, 5, 6]);
  });

  it('lifts zero-error layers to minRank and takes that from the others', () => {
    const ranks = allocateRanks([0, 0, 5, 5], { targetRank: 4, maxRank: 32 });
    expect(ranks).toEqual([1, 1, 7, 7]);
    // ...and hands them a clipped layer's excess when nobody else can take it, so the total is kept.
    expect(allocateRanks([0, 0, 9], { targetRank: 8, maxRank: 10 })).toEqual([7, 7, 10]);
  });

  it('splits evenly when every error is zero, and stops at the clip when the budget is unreachable', () => {
    expect(allocateRanks([0, 0, 0], { targetRank: 5, maxRank: 8 })).toEqual([5, 5, 5]);
    expect(allocateRanks([1, 2], { targetRank: 20, maxRank: 8 })).toEqual([8, 8]);
    expect(allocateRanks([], { targetRank: 4, maxRank: 8 })).toEqual([]);
  });

  it('rejects bad options and errors with a message that names the problem', () => {
    expect(() => allocateRanks([1, -1], { targetRank: 4, maxRank: 8 })).toThrow(/layer 1/);
    expect(() => allocateRanks([1], { targetRank: 4, maxRank: 0 })).toThrow(/maxRank/);
    expect(() => allocateRanks([1], { targetRank: 0, maxRank: 8 })).toThrow(/targetRank/);
  });

  it('property: integers in [1, maxRank], sum = L * target (as far as the clip allows), monotone in error', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 64 }),
        (errors, targetRank, maxRank) => {
          const ranks = allocateRanks(errors, { targetRank, maxRank });
          const L = errors.length;
          let ok = ranks.length === L && ranks.every((r) => Number.isInteger(r) && r >= 1 && r <= maxRank);
          ok &&= sum(ranks) === Math.min(L * targetRank, L * maxRank);
          // Rounding moves a rank by less than one unit: a strictly larger error never gets 2+ fewer ranks.
          for (let i = 0; i < L; i++)
            for (let j = 0; j < L; j++) if (errors[i]! > errors[j]!) ok &&= ranks[i]! >= ranks[j]! - 1;
          return ok;
        },
      ),
      { numRuns: 200, seed: 5 },
    );
  });
});
