import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { isFedpeftError } from '../errors.ts';
import {
  DType,
  assertFinite,
  decodeHostTensor,
  decodeTensor,
  encodeHostTensor,
  encodeTensor,
  validateTensorSpec,
  type TypedTensor,
} from './tensor-codec.ts';
import type { TensorSpec } from './messages.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isFedpeftError(err)) return err.code;
    throw err;
  }
  throw new Error('expected a FedpeftError, nothing was thrown');
}

const shapeArb = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 });

const tensorArb: fc.Arbitrary<TypedTensor> = shapeArb.chain((shape) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return fc.oneof(
    fc
      .array(fc.float({ noDefaultInfinity: false }), { minLength: n, maxLength: n })
      .map((v): TypedTensor => ({ dtype: 'float32', shape, data: Float32Array.from(v) })),
    fc
      .array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: n, maxLength: n })
      .map((v): TypedTensor => ({ dtype: 'int32', shape, data: Int32Array.from(v) })),
    fc
      .array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { minLength: n, maxLength: n })
      .map((v): TypedTensor => ({ dtype: 'uint32', shape, data: Uint32Array.from(v) })),
    fc
      .array(fc.integer({ min: 0, max: 255 }), { minLength: n, maxLength: n })
      .map((v): TypedTensor => ({ dtype: 'uint8', shape, data: Uint8Array.from(v) })),
  );
});

describe('tensor codec', () => {
  it('round-trips every dtype and shape bit-exactly (NaN included), through an unaligned copy too', () => {
    fc.assert(
      fc.property(tensorArb, fc.integer({ min: 0, max: 3 }), (t, pad) => {
        const { spec, bytes } = encodeTensor('w', t);
        expect(spec.byteLength).toBe(bytes.length);
        expect(spec.shape).toEqual(t.shape);
        // Place the bytes at an arbitrary (possibly unaligned) offset, as inside a protobuf frame.
        const frame = new Uint8Array(bytes.length + pad);
        frame.set(bytes, pad);
        const back = decodeTensor(spec, frame.subarray(pad));
        expect(back.dtype).toBe(t.dtype);
        expect(back.shape).toEqual(t.shape);
        const asBytes = (d: TypedTensor['data']) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
        expect(asBytes(back.data)).toEqual(asBytes(t.data));
      }),
      { numRuns: 300 },
    );
  });

  it('writes little-endian bytes', () => {
    const { bytes } = encodeTensor('x', { dtype: 'int32', shape: [1], data: Int32Array.of(0x01020304) });
    expect([...bytes]).toEqual([4, 3, 2, 1]);
  });

  it('decodes aligned bytes as a view (no copy) and encodes as a view', () => {
    const data = Float32Array.of(1, 2, 3, 4);
    const { spec, bytes } = encodeHostTensor('a', { shape: [2, 2], data });
    expect(bytes.buffer).toBe(data.buffer);
    const back = decodeHostTensor(spec, bytes);
    expect(back.data.buffer).toBe(data.buffer);
    expect([...back.data]).toEqual([1, 2, 3, 4]);
  });

  it('float16 halves the bytes and keeps ~3 significant digits', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: -1000, max: 1000, noNaN: true }), { maxLength: 50 }), (v) => {
        const data = Float32Array.from(v);
        const { spec, bytes } = encodeHostTensor('h', { shape: [v.length], data }, { float16: true });
        expect(spec.dtype).toBe(DType.FLOAT16);
        expect(bytes.length).toBe(2 * v.length);
        const back = decodeHostTensor(spec, bytes);
        back.data.forEach((x, i) =>
          expect(Math.abs(x - data[i]!)).toBeLessThanOrEqual(Math.abs(data[i]!) / 1024 + 2 ** -24),
        );
      }),
    );
  });

  it('rejects malformed specs and data with INVALID_TENSOR', () => {
    const good: TensorSpec = { name: 'w', dtype: DType.FLOAT32, shape: [2, 3], byteLength: 24 };
    const bytes = new Uint8Array(24);
    expect(decodeTensor(good, bytes).shape).toEqual([2, 3]);
    const bad: Array<[string, TensorSpec, Uint8Array]> = [
      ['unspecified dtype', { ...good, dtype: DType.DTYPE_UNSPECIFIED }, bytes],
      ['unknown dtype', { ...good, dtype: 99 as DType }, bytes],
      ['negative dim', { ...good, shape: [-2, -3], byteLength: 24 }, bytes],
      ['fractional dim', { ...good, shape: [1.5, 4], byteLength: 24 }, bytes],
      ['rank 9', { ...good, shape: [1, 1, 1, 1, 1, 1, 1, 1, 6], byteLength: 24 }, bytes],
      ['byte length vs shape', { ...good, byteLength: 20 }, bytes],
      ['truncated bytes', good, bytes.subarray(0, 23)],
      ['padded bytes', good, new Uint8Array(28)],
      ['empty name', { ...good, name: '' }, bytes],
      ['element overflow', { ...good, shape: [65536, 65536], byteLength: 2 ** 34 }, bytes],
    ];
    for (const [what, spec, data] of bad) {
      expect(
        codeOf(() => decodeTensor(spec, data)),
        what,
      ).toBe('INVALID_TENSOR');
    }
    expect(codeOf(() => validateTensorSpec(good, { maxTensorBytes: 16 }))).toBe('INVALID_TENSOR');
    expect(codeOf(() => decodeHostTensor({ ...good, dtype: DType.INT32 }, bytes))).toBe('INVALID_TENSOR');
    expect(codeOf(() => encodeTensor('w', { dtype: 'float32', shape: [3], data: new Float32Array(2) }))).toBe(
      'INVALID_TENSOR',
    );
  });

  it('keeps NaN/Inf at codec level; assertFinite rejects them with NON_FINITE and the first index', () => {
    const data = Float32Array.of(1, NaN, Infinity, -Infinity);
    const { spec, bytes } = encodeHostTensor('u', { shape: [4], data });
    const back = decodeHostTensor(spec, bytes);
    expect(Number.isNaN(back.data[1])).toBe(true);
    expect(back.data[2]).toBe(Infinity);
    expect(codeOf(() => assertFinite('u', back.data))).toBe('NON_FINITE');
    try {
      assertFinite('u', back.data);
    } catch (err) {
      expect(String(err)).toMatch(/3 non-finite.*index 1/);
    }
    expect(() => assertFinite('ok', Float32Array.of(0, -1e38, 3e38))).not.toThrow();
  });
});
