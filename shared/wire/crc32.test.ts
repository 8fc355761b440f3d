import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32 } from './crc32.ts';

describe('crc32', () => {
  it('matches the standard check value of "123456789"', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('agrees with zlib on arbitrary bytes (all lengths, so every tail of the 8-byte loop is hit)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(crc32(bytes)).toBe(zlibCrc32(bytes));
      }),
      { numRuns: 300 },
    );
  });

  it('continues across pieces: crc(b, crc(a)) === crc(a ++ b)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 100 }), (a, b) => {
        const ab = new Uint8Array(a.length + b.length);
        ab.set(a);
        ab.set(b, a.length);
        expect(crc32(b, crc32(a))).toBe(crc32(ab));
      }),
    );
  });

  it('works on unaligned views', () => {
    const base = new Uint8Array(64).map((_, i) => i * 7);
    const view = base.subarray(3, 50);
    expect(crc32(view)).toBe(zlibCrc32(Uint8Array.from(view)));
  });
});
