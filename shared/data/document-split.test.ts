import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Rng } from '../tensor/rng.ts';
import {
  minimumDocumentsForSplit,
  splitDocuments,
  splitFractionsSchema,
  splitSizes,
} from './document-split.ts';

const fractionsArb = fc
  .record({
    validation: fc.double({ min: 0, max: 0.9, noNaN: true }),
    test: fc.double({ min: 0, max: 0.9, noNaN: true }),
  })
  .filter((f) => f.validation + f.test < 1);

describe('splitDocuments', () => {
  it('partitions the items exactly, keeps original order inside splits, and respects the minimums', () => {
    fc.assert(
      fc.property(fractionsArb, fc.integer({ min: 0, max: 300 }), fc.nat(), (fractions, n, seed) => {
        const items = Array.from({ length: n }, (_, i) => i);
        if (n < minimumDocumentsForSplit(fractions)) {
          expect(() => splitDocuments(items, fractions, new Rng(seed))).toThrow(/at least \d are needed/);
          return;
        }
        const s = splitDocuments(items, fractions, new Rng(seed));
        expect([...s.train, ...s.validation, ...s.test].sort((a, b) => a - b)).toEqual(items);
        for (const part of [s.train, s.validation, s.test])
          expect([...part].sort((a, b) => a - b)).toEqual(part);
        expect(s.train.length).toBeGreaterThanOrEqual(1);
        expect(s.validation.length >= 1).toBe(fractions.validation > 0);
        expect(s.test.length >= 1).toBe(fractions.test > 0);
        // Sizes track the fractions (rounding, the 1-document minimum and the training floor aside).
        const sizes = splitSizes(n, fractions);
        expect(Math.abs(sizes.test - n * fractions.test)).toBeLessThanOrEqual(
          Math.max(1, n * fractions.test) + 0.5,
        );
      }),
    );
  });

  it('is seeded: same seed same split, different seed different split', () => {
    const items = Array.from({ length: 100 }, (_, i) => i);
    const f = splitFractionsSchema.parse({});
    expect(splitDocuments(items, f, new Rng(1))).toEqual(splitDocuments(items, f, new Rng(1)));
    expect(splitDocuments(items, f, new Rng(1))).not.toEqual(splitDocuments(items, f, new Rng(2)));
    expect(splitSizes(100, f)).toEqual({ train: 80, validation: 10, test: 10 });
    expect(splitSizes(3, f)).toEqual({ train: 1, validation: 1, test: 1 });
  });

  it('validates fractions with actionable messages', () => {
    expect(splitFractionsSchema.safeParse({ validation: 0.6, test: 0.5 }).error?.issues[0]?.message).toMatch(
      /sum < 1/,
    );
    expect(splitFractionsSchema.safeParse({ test: -0.1 }).error?.issues[0]?.message).toBe(
      'test fraction must be >= 0',
    );
  });
});
