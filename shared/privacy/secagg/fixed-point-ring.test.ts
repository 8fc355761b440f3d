import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chooseRing } from './fixed-point-ring.ts';

const seed = (b: number) => new Uint8Array(32).fill(b);

describe('fixed-point ring', () => {
  it('picks Z_2^32 while n·R·2^f fits in 31 bits, Z_2^52 beyond, and refuses what would wrap even there', () => {
    expect(chooseRing({ clients: 4095, clipRange: 8, fractionalBits: 16 }).bits).toBe(32);
    expect(chooseRing({ clients: 4096, clipRange: 8, fractionalBits: 16 }).bits).toBe(52);
    expect(chooseRing({ clients: 10, clipRange: 1000, fractionalBits: 24 }).bits).toBe(52);
    expect(() => chooseRing({ clients: 255, clipRange: 1e6, fractionalBits: 40 })).toThrow(
      /overflow 52 bits/,
    );
    expect(() => chooseRing({ clients: 2, clipRange: 0, fractionalBits: 16 })).toThrow(/clipRange/);
  });

  for (const [bits, params] of [
    [32, { clipRange: 8, fractionalBits: 16 }],
    [52, { clipRange: 8, fractionalBits: 40 }],
  ] as const) {
    it(`Z_2^${bits}: masked sums of n encodings decode to the true sum within n·2^-(f+1) (property)`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 12 }).chain((n) =>
            fc.tuple(
              fc.constant(n),
              fc.integer({ min: 1, max: 30 }).chain((len) =>
                fc.array(
                  fc.array(fc.double({ min: -8, max: 8, noNaN: true }), { minLength: len, maxLength: len }),
                  {
                    minLength: n,
                    maxLength: n,
                  },
                ),
              ),
            ),
          ),
          ([n, inputs]) => {
            const ring = chooseRing({ ...params, clients: 12 });
            expect(ring.bits).toBe(bits);
            const len = (inputs[0] as number[]).length;
            const acc = ring.zeros(len);
            inputs.forEach((x, i) => {
              const { vector } = ring.encode(x);
              // A mask added by one client and subtracted by another cancels exactly.
              ring.addMask(vector, seed(i), 1);
              if (i > 0) ring.addMask(vector, seed(i - 1), -1);
              ring.add(acc, vector);
            });
            ring.addMask(acc, seed(n - 1), -1);
            const decoded = ring.decode(acc);
            for (let j = 0; j < len; j++) {
              const truth = inputs.reduce((s, x) => s + (x[j] as number), 0);
              expect(Math.abs((decoded[j] as number) - truth)).toBeLessThanOrEqual(
                ring.quantizationErrorBound(n) + 1e-9,
              );
            }
          },
        ),
        { numRuns: 60 },
      );
    });
  }

  it('clips values to [-R, R] and counts them; rejects non-finite values', () => {
    const ring = chooseRing({ clients: 3, clipRange: 1, fractionalBits: 8 });
    const { vector, clippedValues } = ring.encode([5, -5, 0.5]);
    expect(clippedValues).toBe(2);
    expect([...ring.decode(vector)]).toEqual([1, -1, 0.5]);
    expect(() => ring.encode([NaN])).toThrow(/finite/);
  });

  it('masks look uniform over the ring (mean and spread of 1e5 words)', () => {
    for (const fractionalBits of [16, 40]) {
      const ring = chooseRing({ clients: 5, clipRange: 8, fractionalBits });
      const m = ring.mask(seed(9), 100_000);
      let mean = 0;
      for (const v of m) mean += v / ring.modulus;
      mean /= m.length;
      expect(Math.abs(mean - 0.5)).toBeLessThan(0.005);
      expect(Math.max(...m)).toBeGreaterThan(0.999 * ring.modulus);
    }
  });

  it('serializes to little-endian bytes and rejects wrong lengths and out-of-ring values', () => {
    for (const fractionalBits of [16, 40]) {
      const ring = chooseRing({ clients: 5, clipRange: 8, fractionalBits });
      const v = ring.mask(seed(1), 7);
      expect(ring.fromBytes(ring.toBytes(v), 7)).toEqual(v);
      expect(() => ring.fromBytes(ring.toBytes(v), 8)).toThrow(/bytes, expected/);
    }
    const ring52 = chooseRing({ clients: 5, clipRange: 8, fractionalBits: 40 });
    expect(() => ring52.fromBytes(new Uint8Array(new Float64Array([2 ** 53]).buffer), 1)).toThrow(
      /not in Z_2\^52/,
    );
    expect(() => ring52.fromBytes(new Uint8Array(new Float64Array([0.5]).buffer), 1)).toThrow(
      /not in Z_2\^52/,
    );
  });
});
