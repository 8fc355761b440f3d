/**
 * IEEE 754 binary16 <-> float32, for halving the size of updates on the wire (`DType.FLOAT16`). Node 20 and
 * most browsers lack `Float16Array`, so the conversion is done on bits: round-to-nearest-even, subnormals,
 * overflow to infinity, NaN kept as NaN.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bit pattern nearest to `x` (ties to even). */
export function float32ToHalfBits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: value = m * 2^-24 with m = (1.mant) * 2^(e-14+23) / 2^23.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  // A rounding carry out of the mantissa correctly bumps the exponent (up to infinity).
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

let decodeTable: Float32Array | undefined;

/** All 65,536 binary16 values as float32 (256 KiB, built on first use): decoding is one look-up per value. */
function halfTable(): Float32Array {
  if (decodeTable) return decodeTable;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) table[h] = sign * m * 2 ** -24;
    else if (e === 31) table[h] = m !== 0 ? NaN : sign * Infinity;
    else table[h] = sign * (1 + m / 1024) * 2 ** (e - 15);
  }
  decodeTable = table;
  return table;
}

export function halfBitsToFloat32(h: number): number {
  return halfTable()[h & 0xffff]!;
}

/** Encode float32 values as little-endian binary16 bytes. */
export function encodeFloat16(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const h = float32ToHalfBits(values[i]!);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

/** Decode little-endian binary16 bytes (length must be even) to float32. */
export function decodeFloat16(bytes: Uint8Array): Float32Array {
  const table = halfTable();
  const n = bytes.length >>> 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = table[bytes[2 * i]! | (bytes[2 * i + 1]! << 8)]!;
  return out;
}
