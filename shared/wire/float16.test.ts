import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { decodeFloat16, encodeFloat16, float32ToHalfBits, halfBitsToFloat32 } from './float16.ts';

describe('float16', () => {
  it('round-trips every one of the 65,536 half bit patterns (NaN stays NaN)', () => {
    const mismatches: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const x = halfBitsToFloat32(h);
      const ok = Number.isNaN(x)
        ? Number.isNaN(halfBitsToFloat32(float32ToHalfBits(x)))
        : float32ToHalfBits(x) === h;
      if (!ok) mismatches.push(h);
    }
    expect(mismatches).toEqual([]);
  });

  it('decodes known values', () => {
    expect(halfBitsToFloat32(0x3c00)).toBe(1);
    expect(halfBitsToFloat32(0xc000)).toBe(-2);
    expect(halfBitsToFloat32(0x7bff)).toBe(65504);
    expect(halfBitsToFloat32(0x0001)).toBe(2 ** -24);
    expect(halfBitsToFloat32(0x7c00)).toBe(Infinity);
    expect(Object.is(halfBitsToFloat32(0x8000), -0)).toBe(true);
  });

  it('rounds to the nearest half, ties to even, overflow to infinity', () => {
    fc.assert(
      fc.property(fc.float({ min: -65504, max: 65504, noNaN: true }), (x) => {
        const h = float32ToHalfBits(x);
        const d = halfBitsToFloat32(h);
        // No representable neighbour is strictly closer.
        for (const n of [h - 1, h + 1]) {
          if ((n & 0x7c00) === 0x7c00 || n < 0 || n > 0xffff || (n ^ h) & 0x8000) continue;
          expect(Math.abs(x - d)).toBeLessThanOrEqual(Math.abs(x - halfBitsToFloat32(n)));
        }
      }),
      { numRuns: 2000 },
    );
    expect(float32ToHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even mantissa
    expect(float32ToHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie -> even (up)
    expect(float32ToHalfBits(70000)).toBe(0x7c00);
    expect(float32ToHalfBits(2 ** -26)).toBe(0);
  });

  it('encodes little-endian and decodes arrays', () => {
    const bytes = encodeFloat16(new Float32Array([1, -2]));
    expect([...bytes]).toEqual([0x00, 0x3c, 0x00, 0xc0]);
    expect([...decodeFloat16(bytes)]).toEqual([1, -2]);
  });
});
