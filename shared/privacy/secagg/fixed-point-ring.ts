/**
 * Fixed-point encoding of real-valued updates into a ring Z_M where masks cancel exactly.
 *
 * A value v is clipped to [-R, R] and encoded as round(v · 2^f) mod M. The sum of n encoded values lies in
 * [-n·⌈R·2^f⌉, n·⌈R·2^f⌉]; it decodes without wrap-around iff n·⌈R·2^f⌉ <= M/2 - 1. With the defaults
 * (R = 8, f = 16) M = 2^32 covers n <= 4095 clients; for more clients, a wider range or more fractional bits
 * the ring switches to M = 2^52, whose elements are exact integers in float64 (sums of two stay below 2^53),
 * so neither ring needs BigInt. Beyond 2^52 the configuration is rejected.
 *
 * Rounding to nearest gives a per-coordinate error of at most 2^-(f+1) per client, so the decoded sum is
 * within n·2^-(f+1) of the true sum of the clipped values.
 */
import { prgWords } from './prg.ts';
import { secAggError } from './errors.ts';

export type RingVector = Uint32Array | Float64Array;

export interface FixedPointParams {
  /** R: values are clipped to [-R, R] before encoding. */
  clipRange: number;
  /** f: values are scaled by 2^f, so the quantization step is 2^-f. */
  fractionalBits: number;
}

export interface EncodeResult {
  vector: RingVector;
  /** How many values were outside [-R, R] and got clipped (a sign the range is too small). */
  clippedValues: number;
}

export abstract class FixedPointRing {
  abstract readonly bits: 32 | 52;
  abstract readonly bytesPerElement: 4 | 8;
  readonly scale: number;
  readonly clipRange: number;

  constructor(params: FixedPointParams) {
    this.scale = 2 ** params.fractionalBits;
    this.clipRange = params.clipRange;
  }

  get modulus(): number {
    return 2 ** this.bits;
  }

  abstract zeros(length: number): RingVector;
  /** acc += x (mod M). */
  abstract add(acc: RingVector, x: RingVector): void;
  /** acc -= x (mod M). */
  abstract sub(acc: RingVector, x: RingVector): void;
  /** The mask PRG(seed) as a ring vector of `length` elements. */
  abstract mask(seed: Uint8Array, length: number): RingVector;
  abstract toBytes(v: RingVector): Uint8Array;
  /** Parses bytes from the network; throws SECAGG_MALFORMED_INPUT on a wrong length or out-of-ring value. */
  abstract fromBytes(bytes: Uint8Array, length: number): RingVector;
  protected abstract fromSigned(q: number): number;

  /** acc += sign · PRG(seed). */
  addMask(acc: RingVector, seed: Uint8Array, sign: 1 | -1): void {
    const m = this.mask(seed, acc.length);
    if (sign === 1) this.add(acc, m);
    else this.sub(acc, m);
  }

  encode(values: ArrayLike<number>): EncodeResult {
    const out = this.zeros(values.length);
    const r = this.clipRange;
    let clippedValues = 0;
    for (let i = 0; i < values.length; i++) {
      let v = values[i] as number;
      if (!Number.isFinite(v))
        throw secAggError('SECAGG_INVALID_INPUT', `value ${i} is ${v}; updates must be finite`);
      if (v > r || v < -r) {
        clippedValues++;
        v = v > r ? r : -r;
      }
      out[i] = this.fromSigned(Math.round(v * this.scale));
    }
    return { vector: out, clippedValues };
  }

  /** Centered lift of each element to (-M/2, M/2], divided by 2^f. */
  decode(v: RingVector): Float64Array {
    const out = new Float64Array(v.length);
    const m = this.modulus;
    const half = m / 2;
    for (let i = 0; i < v.length; i++) {
      const x = v[i] as number;
      out[i] = (x >= half ? x - m : x) / this.scale;
    }
    return out;
  }

  /** The largest error of a decoded sum of `clients` encodings vs. the sum of the clipped values. */
  quantizationErrorBound(clients: number): number {
    return clients * (0.5 / this.scale);
  }
}

class Ring32 extends FixedPointRing {
  readonly bits = 32 as const;
  readonly bytesPerElement = 4 as const;

  zeros(length: number): Uint32Array {
    return new Uint32Array(length);
  }
  add(acc: RingVector, x: RingVector): void {
    checkSameLength(acc, x);
    for (let i = 0; i < acc.length; i++) acc[i] = ((acc[i] as number) + (x[i] as number)) >>> 0;
  }
  sub(acc: RingVector, x: RingVector): void {
    checkSameLength(acc, x);
    for (let i = 0; i < acc.length; i++) acc[i] = ((acc[i] as number) - (x[i] as number)) >>> 0;
  }
  mask(seed: Uint8Array, length: number): Uint32Array {
    return prgWords(seed, length);
  }
  toBytes(v: RingVector): Uint8Array {
    return new Uint8Array(Uint32Array.from(v).buffer);
  }
  fromBytes(bytes: Uint8Array, length: number): Uint32Array {
    if (bytes.length !== length * 4) {
      throw secAggError(
        'SECAGG_MALFORMED_INPUT',
        `masked input has ${bytes.length} bytes, expected ${length * 4}`,
      );
    }
    // Copy: the network buffer may be unaligned or reused.
    return new Uint32Array(bytes.slice().buffer);
  }
  protected fromSigned(q: number): number {
    return q >>> 0;
  }
}

const TWO_52 = 2 ** 52;

class Ring52 extends FixedPointRing {
  readonly bits = 52 as const;
  readonly bytesPerElement = 8 as const;

  zeros(length: number): Float64Array {
    return new Float64Array(length);
  }
  add(acc: RingVector, x: RingVector): void {
    checkSameLength(acc, x);
    for (let i = 0; i < acc.length; i++) {
      const s = (acc[i] as number) + (x[i] as number);
      acc[i] = s >= TWO_52 ? s - TWO_52 : s;
    }
  }
  sub(acc: RingVector, x: RingVector): void {
    checkSameLength(acc, x);
    for (let i = 0; i < acc.length; i++) {
      const s = (acc[i] as number) - (x[i] as number);
      acc[i] = s < 0 ? s + TWO_52 : s;
    }
  }
  mask(seed: Uint8Array, length: number): Float64Array {
    const words = prgWords(seed, 2 * length);
    const out = new Float64Array(length);
    for (let i = 0; i < length; i++) {
      out[i] = ((words[2 * i + 1] as number) & 0xfffff) * 4294967296 + (words[2 * i] as number);
    }
    return out;
  }
  toBytes(v: RingVector): Uint8Array {
    return new Uint8Array(Float64Array.from(v).buffer);
  }
  fromBytes(bytes: Uint8Array, length: number): Float64Array {
    if (bytes.length !== length * 8) {
      throw secAggError(
        'SECAGG_MALFORMED_INPUT',
        `masked input has ${bytes.length} bytes, expected ${length * 8}`,
      );
    }
    const out = new Float64Array(bytes.slice().buffer);
    for (let i = 0; i < out.length; i++) {
      const x = out[i] as number;
      if (!(Number.isInteger(x) && x >= 0 && x < TWO_52)) {
        throw secAggError('SECAGG_MALFORMED_INPUT', `masked input element ${i} (${x}) is not in Z_2^52`);
      }
    }
    return out;
  }
  protected fromSigned(q: number): number {
    return q < 0 ? q + TWO_52 : q;
  }
}

function checkSameLength(a: RingVector, b: RingVector): void {
  if (a.length !== b.length) throw new Error(`ring vectors differ in length: ${a.length} vs ${b.length}`);
}

/** The narrowest ring in which the sum of `clients` encodings cannot wrap. */
export function chooseRing(params: FixedPointParams & { clients: number }): FixedPointRing {
  const { clients, clipRange, fractionalBits } = params;
  if (!(Number.isInteger(fractionalBits) && fractionalBits >= 0 && fractionalBits <= 48)) {
    throw secAggError(
      'SECAGG_INVALID_CONFIG',
      `fractionalBits must be an integer in [0, 48], got ${fractionalBits}`,
    );
  }
  if (!(Number.isFinite(clipRange) && clipRange > 0)) {
    throw secAggError('SECAGG_INVALID_CONFIG', `clipRange must be a finite number > 0, got ${clipRange}`);
  }
  const maxAbsSum = clients * Math.ceil(clipRange * 2 ** fractionalBits);
  if (maxAbsSum <= 2 ** 31 - 1) return new Ring32(params);
  if (maxAbsSum <= 2 ** 51 - 1) return new Ring52(params);
  throw secAggError(
    'SECAGG_INVALID_CONFIG',
    `${clients} clients × range ±${clipRange} × 2^${fractionalBits} would overflow 52 bits; lower clipRange or fractionalBits`,
  );
}
