import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { isFedpeftError } from '../errors.ts';
import type { HostTensorMap } from '../tensor/host-tensor.ts';
import { OutgoingTransfer, TransferReceiver } from './chunking.ts';
import { crc32 } from './crc32.ts';
import { DType, type TypedTensor } from './tensor-codec.ts';
import type { TensorChunk } from './messages.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isFedpeftError(err)) return err.code;
    throw err;
  }
  throw new Error('expected a FedpeftError, nothing was thrown');
}

function hostMap(entries: Array<[string, number[], number]>): HostTensorMap {
  const m: HostTensorMap = new Map();
  for (const [name, shape, seed] of entries) {
    const n = shape.reduce((a, b) => a * b, 1);
    m.set(name, { shape, data: Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i)) });
  }
  return m;
}

function expectSameHost(a: HostTensorMap, b: HostTensorMap): void {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [name, t] of a) {
    expect(b.get(name)!.shape).toEqual(t.shape);
    expect(b.get(name)!.data).toEqual(t.data);
  }
}

/** A Fisher-Yates shuffle driven by fast-check's integer stream. */
function permute<T>(items: T[], keys: number[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = (keys[i % Math.max(1, keys.length)] ?? 0) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('chunked transfers', () => {
  it('round-trips any tensors, chunk size and delivery order (with duplicates rejected and re-acked)', () => {
    const specArb = fc.array(
      fc.record({
        shape: fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 3 }),
        dtype: fc.constantFrom('float32', 'int32', 'uint8', 'uint32'),
      }),
      { minLength: 1, maxLength: 6 },
    );
    fc.assert(
      fc.property(
        specArb,
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (specs, chunkBytes, keys) => {
          const tensors: Array<[string, TypedTensor]> = specs.map(({ shape, dtype }, k) => {
            const n = shape.reduce((a, b) => a * b, 1);
            const base = Uint32Array.from({ length: n }, (_, i) => (i * 2654435761 + k) >>> 0);
            const data =
              dtype === 'float32'
                ? new Float32Array(base.map((x) => x % 1000))
                : dtype === 'int32'
                  ? new Int32Array(base.buffer)
                  : dtype === 'uint32'
                    ? base
                    : new Uint8Array(base.map((x) => x & 255));
            return [`t${k}`, { dtype, shape, data } as TypedTensor];
          });
          const out = OutgoingTransfer.fromTensors('up-1', tensors, { chunkBytes });
          const rx = new TransferReceiver(out.manifest);
          const order = permute([...Array(out.chunkCount).keys()], keys);
          for (const i of order) {
            const ack = rx.accept(out.chunk(i));
            expect(ack.contiguousCount + ack.receivedAfter.length).toBeLessThanOrEqual(out.chunkCount);
          }
          if (out.chunkCount > 0)
            expect(codeOf(() => rx.accept(out.chunk(order[0]!)))).toBe('CHUNK_DUPLICATE');
          expect(rx.complete).toBe(true);
          expect(rx.ack()).toEqual({
            transferId: 'up-1',
            contiguousCount: out.chunkCount,
            receivedAfter: [],
            complete: true,
          });
          const back = rx.tensors();
          back.forEach(({ spec, tensor }, k) => {
            const [name, t] = tensors[k]!;
            expect(spec.name).toBe(name);
            expect(tensor.dtype).toBe(t.dtype);
            expect(tensor.shape).toEqual(t.shape);
            expect(Array.from(tensor.data)).toEqual(Array.from(t.data));
          });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('packs several small tensors into one chunk and reports the tensor each chunk starts in', () => {
    const m = hostMap([
      ['a', [3], 1],
      ['empty', [0, 4], 2],
      ['b', [5], 3],
      ['c', [2, 2], 4],
    ]);
    const out = OutgoingTransfer.fromHostTensors('x', m, { chunkBytes: 16 });
    expect(out.manifest.totalBytes).toBe(48);
    expect(out.manifest.chunkCount).toBe(3);
    expect([...out.chunks()].map((c) => c.tensorIndex)).toEqual([0, 2, 3]);
    const rx = new TransferReceiver(out.manifest);
    for (const c of out.chunks()) rx.accept(c);
    expectSameHost(m, rx.hostTensors());
  });

  it('resumes after an interruption from the acknowledged prefix, skipping chunks received beyond it', () => {
    const m = hostMap([['B.q', [32, 48], 7]]);
    const out = OutgoingTransfer.fromHostTensors('resume', m, { chunkBytes: 1000 });
    expect(out.chunkCount).toBe(7);
    const rx = new TransferReceiver(out.manifest);
    // First connection: chunks 0,1,2 and 5 arrive, then the link drops.
    for (const i of [0, 1, 2, 5]) rx.accept(out.chunk(i));
    const ack = rx.ack();
    expect(ack).toEqual({ transferId: 'resume', contiguousCount: 3, receivedAfter: [5], complete: false });
    expect(codeOf(() => rx.hostTensors())).toBe('TRANSFER_INCOMPLETE');
    // After the reconnect the sender (re)sends only what is missing.
    const pending = out.pendingAfter(ack);
    expect(pending).toEqual([3, 4, 6]);
    for (const i of pending) rx.accept(out.chunk(i));
    expect(rx.complete).toBe(true);
    expect(out.pendingAfter(rx.ack())).toEqual([]);
    expectSameHost(m, rx.hostTensors());
    expect(codeOf(() => out.pendingAfter({ ...ack, transferId: 'other' }))).toBe('TRANSFER_UNKNOWN');
  });

  it('detects a corrupted chunk (CHUNK_CHECKSUM), accepts the resent one, and stays consistent', () => {
    const m = hostMap([['w', [100], 1]]);
    const out = OutgoingTransfer.fromHostTensors('crc', m, { chunkBytes: 128 });
    const rx = new TransferReceiver(out.manifest);
    const c = out.chunk(1);
    const corrupt = Uint8Array.from(c.data);
    corrupt[5]! ^= 0x10;
    expect(codeOf(() => rx.accept({ ...c, data: corrupt }))).toBe('CHUNK_CHECKSUM');
    expect(rx.ack().receivedAfter).toEqual([]);
    for (const chunk of out.chunks()) rx.accept(chunk);
    expectSameHost(m, rx.hostTensors());
  });

  it('detects a whole-transfer checksum mismatch (TRANSFER_CHECKSUM) and discards the transfer', () => {
    const m = hostMap([['w', [64], 2]]);
    const out = OutgoingTransfer.fromHostTensors('whole', m, { chunkBytes: 100 });
    const rx = new TransferReceiver({ ...out.manifest, crc32: (out.manifest.crc32 ^ 1) >>> 0 });
    const chunks = [...out.chunks()];
    for (const c of chunks.slice(0, -1)) rx.accept(c);
    expect(codeOf(() => rx.accept(chunks.at(-1)!))).toBe('TRANSFER_CHECKSUM');
    expect(rx.complete).toBe(false);
    expect(codeOf(() => rx.hostTensors())).toBe('TRANSFER_CHECKSUM');
    expect(codeOf(() => rx.accept(chunks[0]!))).toBe('TRANSFER_CHECKSUM');
  });

  it('rejects chunks inconsistent with the manifest', () => {
    const m = hostMap([
      ['a', [10], 1],
      ['b', [30], 2],
    ]);
    const out = OutgoingTransfer.fromHostTensors('t1', m, { chunkBytes: 64 });
    const rx = new TransferReceiver(out.manifest);
    const c = out.chunk(1);
    const withCrc = (x: TensorChunk): TensorChunk => ({ ...x, crc32: crc32(x.data) });
    const bad: Array<[string, TensorChunk, string]> = [
      ['other transfer', { ...c, transferId: 't2' }, 'TRANSFER_UNKNOWN'],
      ['index past the end', { ...c, chunkIndex: 3 }, 'CHUNK_OUT_OF_RANGE'],
      ['wrong chunk count', { ...c, chunkCount: 4 }, 'CHUNK_OUT_OF_RANGE'],
      ['wrong offset', { ...c, byteOffset: 60 }, 'CHUNK_OUT_OF_RANGE'],
      ['short data', withCrc({ ...c, data: c.data.subarray(1) }), 'CHUNK_OUT_OF_RANGE'],
      ['long data', withCrc({ ...c, data: new Uint8Array(65) }), 'CHUNK_OUT_OF_RANGE'],
      ['wrong tensor index', { ...c, tensorIndex: 0 }, 'CHUNK_OUT_OF_RANGE'],
    ];
    for (const [what, chunk, code] of bad)
      expect(
        codeOf(() => rx.accept(chunk)),
        what,
      ).toBe(code);
    expect(rx.receivedBytes).toBe(0);
    rx.accept(c);
    expect(codeOf(() => rx.accept(c))).toBe('CHUNK_DUPLICATE');
  });

  it('rejects manifests that are oversize or inconsistent before allocating anything', () => {
    const out = OutgoingTransfer.fromHostTensors('m', hostMap([['w', [256], 1]]), { chunkBytes: 256 });
    const man = out.manifest;
    const spec = man.tensors[0]!;
    const cases: Array<[string, typeof man, string]> = [
      ['over the receiver limit', man, 'TRANSFER_TOO_LARGE'],
      ['total differs from tensors', { ...man, totalBytes: 2048, chunkCount: 8 }, 'MALFORMED_MESSAGE'],
      ['chunk count differs', { ...man, chunkCount: 5 }, 'MALFORMED_MESSAGE'],
      ['zero chunk size', { ...man, chunkBytes: 0 }, 'CHUNK_OUT_OF_RANGE'],
      ['bad spec', { ...man, tensors: [{ ...spec, byteLength: 1000 }] }, 'INVALID_TENSOR'],
      [
        'duplicate names',
        { ...man, tensors: [spec, spec], totalBytes: 2048, chunkCount: 8 },
        'INVALID_TENSOR',
      ],
      ['bad id', { ...man, transferId: '../etc' }, 'MALFORMED_MESSAGE'],
    ];
    for (const [what, m, code] of cases) {
      const limits = what === 'over the receiver limit' ? { maxTransferBytes: 1000 } : {};
      expect(
        codeOf(() => new TransferReceiver(m, limits)),
        what,
      ).toBe(code);
    }
    expect(codeOf(() => new TransferReceiver(man, { maxChunkBytes: 100 }))).toBe('CHUNK_OUT_OF_RANGE');
    expect(codeOf(() => OutgoingTransfer.fromHostTensors('x', new Map(), { chunkBytes: 0 }))).toBe(
      'CHUNK_OUT_OF_RANGE',
    );
  });

  it('an empty transfer has no chunks and is complete on announcement', () => {
    const out = OutgoingTransfer.fromHostTensors(
      'empty',
      new Map([['z', { shape: [0], data: new Float32Array(0) }]]),
    );
    expect(out.manifest).toMatchObject({ totalBytes: 0, chunkCount: 0, crc32: 0 });
    const rx = new TransferReceiver(out.manifest);
    expect(rx.complete).toBe(true);
    expect(rx.hostTensors().get('z')!.shape).toEqual([0]);
  });

  it('assembles a > 200 MB transfer out of order into one buffer, verified by CRC', () => {
    const n = 52_500_000; // 210 MB of float32
    const big = new Float32Array(n);
    for (let i = 0; i < n; i++) big[i] = (i % 65_521) - 32_000.5;
    const small = Float32Array.from({ length: 1001 }, (_, i) => i); // chunk and tensor boundaries do not coincide
    let expectedCrc = zlibCrc32(new Uint8Array(small.buffer));
    expectedCrc = zlibCrc32(new Uint8Array(big.buffer), expectedCrc);
    expectedCrc = zlibCrc32(Uint8Array.of(1, 0, 1), expectedCrc);
    const start = performance.now();
    const out = OutgoingTransfer.fromTensors('big', [
      ['small', { dtype: 'float32', shape: [1001], data: small }],
      ['big', { dtype: 'float32', shape: [n], data: big }],
      ['mask', { dtype: 'uint8', shape: [3], data: Uint8Array.of(1, 0, 1) }],
    ]);
    expect(out.manifest.totalBytes).toBe(4 * (n + 1001) + 3);
    expect(out.manifest.crc32).toBe(expectedCrc);
    const rx = new TransferReceiver(out.manifest);
    // Odd chunks first, then even ones: the prefix only advances in the second pass.
    for (let i = 1; i < out.chunkCount; i += 2) rx.accept(out.chunk(i));
    expect(rx.ack().contiguousCount).toBe(0);
    for (let i = 0; i < out.chunkCount; i += 2) rx.accept(out.chunk(i));
    expect(rx.complete).toBe(true);
    const seconds = (performance.now() - start) / 1000;
    const got = rx.tensors();
    const gotBig = got[1]!.tensor.data;
    expect(gotBig.length).toBe(n);
    expect(zlibCrc32(new Uint8Array(gotBig.buffer, gotBig.byteOffset, gotBig.byteLength))).toBe(
      zlibCrc32(new Uint8Array(big.buffer)),
    );
    expect(got[0]!.tensor.data).toEqual(small);
    expect(got[2]!.spec.dtype).toBe(DType.UINT8);
    expect(Array.from(got[2]!.tensor.data)).toEqual([1, 0, 1]);
    console.log(
      `210 MB transfer: ${out.chunkCount} chunks, split + assemble + verify in ${seconds.toFixed(2)} s`,
    );
    expect(seconds).toBeLessThan(30);
  });
});
