import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { halfToFloat, parseSafetensors, serializeSafetensors } from './safetensors.ts';
import type { HostTensorMap } from '../tensor/host-tensor.ts';

/** Build a file from a raw header object and data bytes, the way a hostile or broken writer could. */
function rawFile(header: unknown, data: Uint8Array, headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const tensorMap = fc
  .uniqueArray(
    fc.record({
      name: fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== '__metadata__'),
      shape: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }),
    }),
    { selector: (t) => t.name, maxLength: 6 },
  )
  .chain((specs) =>
    fc.tuple(
      ...specs.map((s) =>
        fc
          .float32Array({
            minLength: s.shape.reduce((a, b) => a * b, 1),
            maxLength: s.shape.reduce((a, b) => a * b, 1),
            noNaN: true,
          })
          .map((data) => [s.name, { shape: s.shape, data }] as const),
      ),
    ),
  )
  .map((entries) => new Map(entries) as HostTensorMap);

describe('safetensors', () => {
  it('keeps a tensor named __proto__ (found by the property test: names are untrusted strings)', () => {
    const tensors: HostTensorMap = new Map([['__proto__', { shape: [2], data: Float32Array.from([1, 2]) }]]);
    const back = parseSafetensors(serializeSafetensors(tensors, { __proto__: 'x' }));
    expect(Array.from(back.tensors.get('__proto__')!.data)).toEqual([1, 2]);
  });

  it('round-trips any set of F32 tensors and metadata exactly (property)', () => {
    fc.assert(
      fc.property(
        tensorMap,
        fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })),
        (tensors, metadata) => {
          const bytes = serializeSafetensors(tensors, metadata);
          // The data section starts 8-byte aligned (the reference writer pads the header with spaces).
          const headerLength = new DataView(bytes.buffer).getUint32(0, true);
          expect(headerLength % 8).toBe(0);
          const back = parseSafetensors(bytes);
          expect([...back.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
          for (const [name, t] of tensors) {
            expect(back.tensors.get(name)?.shape).toEqual(t.shape);
            expect(Array.from(back.tensors.get(name)!.data)).toEqual(Array.from(t.data));
          }
          expect(back.metadata).toEqual(metadata);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('reads from a Node Buffer that is an unaligned view into a larger pool', () => {
    const tensors: HostTensorMap = new Map([
      ['w', { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
    ]);
    const pooled = Buffer.concat([
      Buffer.from([9, 9, 9]),
      Buffer.from(serializeSafetensors(tensors)),
      Buffer.from([7]),
    ]);
    const view = pooled.subarray(3, pooled.length - 1);
    expect(Array.from(parseSafetensors(view).tensors.get('w')!.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('reads F16, BF16 and F64 as float32', () => {
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001, 0x7c00]).buffer); // 1, -2, ~1/3, 2^-24, inf
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc0a0]).buffer); // 1, -5
    const f64 = new Uint8Array(new Float64Array([0.1, -7]).buffer);
    const data = new Uint8Array(f16.length + 2 + bf16.length + f64.length);
    data.set(f16, 0);
    data.set(bf16, 12);
    data.set(f64, 16);
    const bytes = rawFile(
      {
        half: { dtype: 'F16', shape: [5], data_offsets: [0, 10] },
        pad: { dtype: 'U8', shape: [2], data_offsets: [10, 12] },
        brain: { dtype: 'BF16', shape: [2, 1], data_offsets: [12, 16] },
        double: { dtype: 'F64', shape: [2], data_offsets: [16, 32] },
      },
      data,
    );
    expect(() => parseSafetensors(bytes)).toThrow(/dtype U8.*skipUnsupported/);
    const file = parseSafetensors(bytes, { skipUnsupported: true });
    expect(file.skipped).toEqual(['pad']);
    const half = Array.from(file.tensors.get('half')!.data);
    expect(half.slice(0, 2)).toEqual([1, -2]);
    expect(half[2]).toBeCloseTo(1 / 3, 3);
    expect(half[3]).toBe(2 ** -24);
    expect(half[4]).toBe(Infinity);
    expect(Array.from(file.tensors.get('brain')!.data)).toEqual([1, -5]);
    expect(file.tensors.get('brain')!.shape).toEqual([2, 1]);
    expect(file.tensors.get('double')!.data[0]).toBeCloseTo(0.1, 7);
    expect(file.dtypes.get('half')).toBe('F16');
    expect(halfToFloat(0xfc00)).toBe(-Infinity);
    expect(halfToFloat(0x7e00)).toBeNaN();
  });

  describe('rejects malformed files with a clear reason', () => {
    const eight = new Uint8Array(8);
    const cases: [string, Uint8Array, RegExp][] = [
      ['too short', new Uint8Array(5), /too short/],
      [
        'header length past the end',
        (() => {
          const b = new Uint8Array(16);
          new DataView(b.buffer).setUint32(0, 100, true);
          return b;
        })(),
        /runs past the end/,
      ],
      [
        'huge header length',
        (() => {
          const b = new Uint8Array(16);
          new DataView(b.buffer).setUint32(4, 1, true);
          return b;
        })(),
        /exceeds the 100 MB limit/,
      ],
      ['not JSON', rawFile(null, eight, '{"a": nope}'), /not valid JSON/],
      ['not an object', rawFile(null, eight, '[1, 2]'), /starting with '\{'/],
      [
        'unknown dtype',
        rawFile({ a: { dtype: 'F33', shape: [2], data_offsets: [0, 8] } }, eight),
        /unknown dtype/,
      ],
      ['bad shape', rawFile({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, eight), /shape/],
      [
        'size mismatch',
        rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, eight),
        /needs 12 bytes/,
      ],
      [
        'offset past the data',
        rawFile({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, eight),
        /past the 8-byte data section/,
      ],
      [
        'reversed offsets',
        rawFile({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, eight),
        /reversed/,
      ],
      [
        'overlap',
        rawFile(
          {
            a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
          },
          eight,
        ),
        /overlaps/,
      ],
      [
        'hole',
        rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, eight),
        /belong to no tensor/,
      ],
      [
        'trailing bytes',
        rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, eight),
        /tensors cover 4/,
      ],
      ['bad metadata', rawFile({ __metadata__: { n: 3 } }, new Uint8Array(0)), /must be a string/],
      ['missing offsets', rawFile({ a: { dtype: 'F32', shape: [2] } }, eight), /data_offsets/],
    ];
    it.each(cases)('%s', (_label, bytes, message) => {
      expect(() => parseSafetensors(bytes, { source: 'x.safetensors' })).toThrow(message);
      expect(() => parseSafetensors(bytes)).toThrow(/INVALID|safetensors/);
    });
  });

  it('refuses to write tensors whose data does not match their shape', () => {
    const bad: HostTensorMap = new Map([['a', { shape: [2, 2], data: new Float32Array(3) }]]);
    expect(() => serializeSafetensors(bad)).toThrow(/3 values for shape \[2,2\]/);
  });
});
