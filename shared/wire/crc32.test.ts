import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32, crc32Implementation, crc32Portable } from './crc32.ts';

describe.each([
  ['crc32', crc32],
  ['crc32Portable', crc32Portable],
] as const)('%s', (_name, crc32) => {
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

  it('continues across empty pieces, including views of an empty buffer', () => {
    const a = Uint8Array.of(1, 2, 3);
    const empty = new Uint8Array(new Float32Array(0).buffer);
    expect(crc32(empty, crc32(a))).toBe(crc32(a));
    expect(crc32(new Uint8Array(0), 0x12345678)).toBe(0x12345678);
  });

  it('works on unaligned views', () => {
    const base = new Uint8Array(64).map((_, i) => i * 7);
    const view = base.subarray(3, 50);
    expect(crc32(view)).toBe(zlibCrc32(Uint8Array.from(view)));
  });
});

describe('crc32 implementation choice', () => {
  it("uses zlib's native CRC in this Node (the portable one is for browsers)", () => {
    expect(crc32Implementation).toBe('native');
  });
});
