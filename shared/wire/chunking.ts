/**
 * Chunked transfers of named tensors (protocol: docs/protocol.md, "Transfers").
 *
 * The tensors of a transfer are laid out back to back in one byte stream (no padding), cut into chunks of
 * `chunkBytes` (the last may be shorter). Chunking the stream rather than each tensor packs the many small
 * tensors of a LoRA update into few frames. Every chunk carries its CRC-32 and the manifest carries the CRC-32
 * of the whole stream, so corruption is caught per chunk (resend that chunk) and end to end.
 *
 * `OutgoingTransfer` builds chunks on demand (a chunk inside one tensor is a view of it, no copy), so resuming
 * from any acknowledged prefix costs nothing. `TransferReceiver` accepts chunks in any order into one
 * preallocated buffer, rejects anything inconsistent with the manifest, reports the acknowledged prefix and
 * the chunks received beyond it, and checks the whole-stream CRC incrementally as the prefix grows.
 */
import { FedpeftError } from '../errors.ts';
import type { HostTensor, HostTensorMap } from '../tensor/host-tensor.ts';
import { crc32 } from './crc32.ts';
import {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_MAX_TRANSFER_BYTES,
  MAX_CHUNK_BYTES,
  MAX_CHUNKS_PER_TRANSFER,
  MAX_TENSORS_PER_TRANSFER,
  MAX_TRANSFER_BYTES_CEILING,
  MAX_TRANSFER_ID_LENGTH,
} from './limits.ts';
import type { ChunkAck, TensorChunk, TensorSpec, TransferManifest } from './messages.ts';
import {
  decodeHostTensor,
  decodeTensor,
  encodeHostTensor,
  encodeTensor,
  validateTensorSpec,
  type EncodedTensor,
  type TensorEncodeOptions,
  type TypedTensor,
} from './tensor-codec.ts';

const TRANSFER_ID = new RegExp(`^[A-Za-z0-9._:-]{1,${MAX_TRANSFER_ID_LENGTH}}$`);

export interface TransferOptions extends TensorEncodeOptions {
  /** Bytes per chunk (default DEFAULT_CHUNK_BYTES = 512 KiB; at most MAX_CHUNK_BYTES). */
  chunkBytes?: number;
}

/** Byte ranges of the tensors in the stream, and the chunk geometry derived from a manifest. */
class StreamLayout {
  /** `ends[k]` = first byte after tensor k. */
  readonly ends: Float64Array;
  constructor(
    readonly specs: readonly TensorSpec[],
    readonly totalBytes: number,
    readonly chunkBytes: number,
    readonly chunkCount: number,
  ) {
    this.ends = new Float64Array(specs.length);
    let end = 0;
    specs.forEach((s, k) => (this.ends[k] = end += s.byteLength));
  }
  chunkStart(index: number): number {
    return index * this.chunkBytes;
  }
  chunkLength(index: number): number {
    return Math.min(this.chunkBytes, this.totalBytes - this.chunkStart(index));
  }
  /** The tensor in which byte `offset` lies (zero-length tensors hold no bytes and are skipped). */
  tensorIndexAt(offset: number): number {
    let lo = 0;
    let hi = this.ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid]! > offset) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
  tensorStart(k: number): number {
    return k === 0 ? 0 : this.ends[k - 1]!;
  }
}

function chunkCountFor(totalBytes: number, chunkBytes: number): number {
  return totalBytes === 0 ? 0 : Math.ceil(totalBytes / chunkBytes);
}

/** The sending side of one transfer. Holds references to the encoded tensors (views, not copies). */
export class OutgoingTransfer {
  readonly manifest: TransferManifest;
  private readonly layout: StreamLayout;
  private readonly parts: Uint8Array[];

  private constructor(transferId: string, encoded: readonly EncodedTensor[], chunkBytes: number) {
    if (!TRANSFER_ID.test(transferId)) {
      throw new FedpeftError(
        'MALFORMED_MESSAGE',
        `transfer id ${JSON.stringify(transferId)} must be 1..${MAX_TRANSFER_ID_LENGTH} characters of [A-Za-z0-9._:-]`,
      );
    }
    if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > MAX_CHUNK_BYTES) {
      throw new FedpeftError('CHUNK_OUT_OF_RANGE', `chunkBytes must be an integer in 1..${MAX_CHUNK_BYTES}`);
    }
    const names = new Set<string>();
    let total = 0;
    let crc = 0;
    for (const { spec, bytes } of encoded) {
      if (names.has(spec.name))
        throw new FedpeftError('INVALID_TENSOR', `duplicate tensor name ${spec.name}`);
      names.add(spec.name);
      total += bytes.length;
      crc = crc32(bytes, crc);
    }
    const chunkCount = chunkCountFor(total, chunkBytes);
    const specs = encoded.map((e) => e.spec);
    this.parts = encoded.map((e) => e.bytes);
    this.layout = new StreamLayout(specs, total, chunkBytes, chunkCount);
    this.manifest = { transferId, tensors: specs, totalBytes: total, chunkBytes, chunkCount, crc32: crc };
  }

  /** A transfer of typed tensors, in the given order. */
  static fromTensors(
    transferId: string,
    tensors: Iterable<readonly [string, TypedTensor]>,
    options: TransferOptions = {},
  ): OutgoingTransfer {
    const encoded = [...tensors].map(([name, t]) => encodeTensor(name, t, options));
    return new OutgoingTransfer(transferId, encoded, options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  }

  /** A transfer of float32 host tensors (adapter shared state), in map order; `float16` halves the bytes. */
  static fromHostTensors(
    transferId: string,
    tensors: HostTensorMap,
    options: TransferOptions = {},
  ): OutgoingTransfer {
    const encoded = [...tensors].map(([name, h]) => encodeHostTensor(name, h, options));
    return new OutgoingTransfer(transferId, encoded, options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  }

  get chunkCount(): number {
    return this.manifest.chunkCount;
  }

  /** Chunk `index`: a view of one tensor's bytes when it lies inside one tensor, else a fresh copy. */
  chunk(index: number): TensorChunk {
    const { layout } = this;
    if (!Number.isInteger(index) || index < 0 || index >= layout.chunkCount) {
      throw new FedpeftError('CHUNK_OUT_OF_RANGE', `chunk ${index} of ${layout.chunkCount} does not exist`);
    }
    const start = layout.chunkStart(index);
    const length = layout.chunkLength(index);
    const first = layout.tensorIndexAt(start);
    const firstStart = layout.tensorStart(first);
    let data: Uint8Array;
    if (start + length <= layout.ends[first]!) {
      data = this.parts[first]!.subarray(start - firstStart, start - firstStart + length);
    } else {
      data = new Uint8Array(length);
      let written = 0;
      for (let k = first; written < length; k++) {
        const part = this.parts[k]!;
        const from = k === first ? start - firstStart : 0;
        const piece = part.subarray(from, Math.min(part.length, from + length - written));
        data.set(piece, written);
        written += piece.length;
      }
    }
    return {
      transferId: this.manifest.transferId,
      tensorIndex: first,
      chunkIndex: index,
      chunkCount: layout.chunkCount,
      byteOffset: start,
      data,
      crc32: crc32(data),
    };
  }

  /** Chunks from `from` on, built lazily. */
  *chunks(from = 0): Generator<TensorChunk> {
    for (let i = from; i < this.chunkCount; i++) yield this.chunk(i);
  }

  /** Chunk indices the receiver still lacks according to its `ack` (in order): what to (re)send on resume. */
  pendingAfter(ack: ChunkAck): number[] {
    if (ack.transferId !== this.manifest.transferId) {
      throw new FedpeftError(
        'TRANSFER_UNKNOWN',
        `ack for transfer ${ack.transferId} does not match transfer ${this.manifest.transferId}`,
      );
    }
    if (ack.complete) return [];
    const have = new Set(ack.receivedAfter);
    const out: number[] = [];
    for (let i = Math.min(ack.contiguousCount, this.chunkCount); i < this.chunkCount; i++) {
      if (!have.has(i)) out.push(i);
    }
    return out;
  }
}

export interface ReceiverLimits {
  /** Largest accepted transfer (default DEFAULT_MAX_TRANSFER_BYTES = 1 GiB). */
  maxTransferBytes?: number;
  /** Largest accepted chunk (default MAX_CHUNK_BYTES). */
  maxChunkBytes?: number;
  /** Most tensors in one transfer (default MAX_TENSORS_PER_TRANSFER). */
  maxTensors?: number;
}

/**
 * Checks an untrusted manifest: ids, specs (see `validateTensorSpec`), unique names, sizes within limits, and
 * that total bytes, chunk size and chunk count agree. Returns the stream layout.
 */
function validateManifest(m: TransferManifest, limits: ReceiverLimits): StreamLayout {
  const maxTransfer = Math.min(
    limits.maxTransferBytes ?? DEFAULT_MAX_TRANSFER_BYTES,
    MAX_TRANSFER_BYTES_CEILING,
  );
  const maxChunk = limits.maxChunkBytes ?? MAX_CHUNK_BYTES;
  const maxTensors = limits.maxTensors ?? MAX_TENSORS_PER_TRANSFER;
  if (!TRANSFER_ID.test(m.transferId)) {
    throw new FedpeftError(
      'MALFORMED_MESSAGE',
      `invalid transfer id ${JSON.stringify(m.transferId.slice(0, 64))}`,
    );
  }
  const id = m.transferId;
  if (m.totalBytes > maxTransfer) {
    throw new FedpeftError(
      'TRANSFER_TOO_LARGE',
      `transfer ${id} announces ${m.totalBytes} bytes; this receiver accepts at most ${maxTransfer}`,
    );
  }
  if (m.tensors.length > maxTensors) {
    throw new FedpeftError(
      'TRANSFER_TOO_LARGE',
      `transfer ${id} has ${m.tensors.length} tensors; at most ${maxTensors}`,
    );
  }
  const names = new Set<string>();
  let sum = 0;
  for (const spec of m.tensors) {
    sum += validateTensorSpec(spec, { maxTensorBytes: maxTransfer });
    if (names.has(spec.name))
      throw new FedpeftError('INVALID_TENSOR', `transfer ${id}: duplicate tensor ${spec.name}`);
    names.add(spec.name);
  }
  if (sum !== m.totalBytes) {
    throw new FedpeftError(
      'MALFORMED_MESSAGE',
      `transfer ${id}: total bytes ${m.totalBytes} differ from the sum of its tensors (${sum})`,
    );
  }
  if (m.totalBytes > 0 && (m.chunkBytes < 1 || m.chunkBytes > maxChunk)) {
    throw new FedpeftError(
      'CHUNK_OUT_OF_RANGE',
      `transfer ${id}: chunk size ${m.chunkBytes} is outside 1..${maxChunk} bytes`,
    );
  }
  const expectedChunks = chunkCountFor(m.totalBytes, m.chunkBytes);
  if (m.chunkCount !== expectedChunks) {
    throw new FedpeftError(
      'MALFORMED_MESSAGE',
      `transfer ${id}: ${m.chunkCount} chunks announced, ${m.totalBytes} bytes in chunks of ${m.chunkBytes} make ${expectedChunks}`,
    );
  }
  if (m.chunkCount > MAX_CHUNKS_PER_TRANSFER) {
    throw new FedpeftError(
      'TRANSFER_TOO_LARGE',
      `transfer ${id} has ${m.chunkCount} chunks; at most ${MAX_CHUNKS_PER_TRANSFER} (use larger chunks)`,
    );
  }
  return new StreamLayout(m.tensors, m.totalBytes, m.chunkBytes, m.chunkCount);
}

/** The receiving side of one transfer. Keep it across a reconnect to resume; `ack()` says where to resume. */
export class TransferReceiver {
  readonly manifest: TransferManifest;
  private readonly layout: StreamLayout;
  private buffer: Uint8Array | undefined;
  private readonly received: Uint8Array;
  private contiguous = 0;
  private beyond = 0;
  private prefixCrc = 0;
  private bytes = 0;
  private failure: FedpeftError | undefined;

  /** Validates the (untrusted) manifest; throws FedpeftError on any inconsistency. */
  constructor(manifest: TransferManifest, limits: ReceiverLimits = {}) {
    this.layout = validateManifest(manifest, limits);
    this.manifest = manifest;
    this.received = new Uint8Array(manifest.chunkCount);
    if (manifest.chunkCount === 0) this.verifyWhole();
  }

  get transferId(): string {
    return this.manifest.transferId;
  }
  get complete(): boolean {
    return this.failure === undefined && this.contiguous === this.layout.chunkCount;
  }
  /** Bytes accepted so far. */
  get receivedBytes(): number {
    return this.bytes;
  }
  /** Chunks 0..contiguousCount-1 are all in. */
  get contiguousCount(): number {
    return this.contiguous;
  }

  /**
   * Accepts one untrusted chunk and returns the updated ack. Throws (leaving the state unchanged)
   * TRANSFER_UNKNOWN (other transfer), CHUNK_OUT_OF_RANGE (index, count, offset, length or tensor index
   * inconsistent with the manifest), CHUNK_DUPLICATE (already have it: re-send `ack()`), CHUNK_CHECKSUM
   * (corrupt: ask for it again); TRANSFER_CHECKSUM when the last chunk completes a stream whose CRC is wrong
   * (the receiver is then failed and must be discarded).
   */
  accept(chunk: TensorChunk): ChunkAck {
    if (this.failure) throw this.failure;
    const { layout } = this;
    const id = this.manifest.transferId;
    if (chunk.transferId !== id) {
      throw new FedpeftError(
        'TRANSFER_UNKNOWN',
        `chunk of transfer ${chunk.transferId} sent to transfer ${id}`,
      );
    }
    const i = chunk.chunkIndex;
    if (chunk.chunkCount !== layout.chunkCount || !Number.isInteger(i) || i < 0 || i >= layout.chunkCount) {
      throw new FedpeftError(
        'CHUNK_OUT_OF_RANGE',
        `transfer ${id}: chunk ${i} of ${chunk.chunkCount} is outside the manifest's ${layout.chunkCount} chunks`,
      );
    }
    const start = layout.chunkStart(i);
    const length = layout.chunkLength(i);
    if (chunk.byteOffset !== start || chunk.data.length !== length) {
      throw new FedpeftError(
        'CHUNK_OUT_OF_RANGE',
        `transfer ${id}: chunk ${i} covers [${chunk.byteOffset}, +${chunk.data.length}) but must cover [${start}, +${length})`,
      );
    }
    const tensorIndex = layout.tensorIndexAt(start);
    if (chunk.tensorIndex !== tensorIndex) {
      throw new FedpeftError(
        'CHUNK_OUT_OF_RANGE',
        `transfer ${id}: chunk ${i} starts in tensor ${tensorIndex}, not ${chunk.tensorIndex}`,
      );
    }
    if (this.received[i] === 1) {
      throw new FedpeftError('CHUNK_DUPLICATE', `transfer ${id}: chunk ${i} was already received`);
    }
    const crc = crc32(chunk.data);
    if (crc !== chunk.crc32) {
      throw new FedpeftError(
        'CHUNK_CHECKSUM',
        `transfer ${id}: chunk ${i} has CRC-32 ${crc.toString(16)}, its header says ${(chunk.crc32 >>> 0).toString(16)}; resend it`,
      );
    }
    this.buffer ??= new Uint8Array(layout.totalBytes);
    this.buffer.set(chunk.data, start);
    this.received[i] = 1;
    this.bytes += length;
    if (i === this.contiguous) this.advancePrefix();
    else this.beyond++;
    return this.ack();
  }

  /** The receiver's state for the sender: the acknowledged prefix, chunks beyond it, completeness. */
  ack(): ChunkAck {
    const receivedAfter: number[] = [];
    for (let i = this.contiguous + 1; receivedAfter.length < this.beyond && i < this.layout.chunkCount; i++) {
      if (this.received[i] === 1) receivedAfter.push(i);
    }
    return {
      transferId: this.manifest.transferId,
      contiguousCount: this.contiguous,
      receivedAfter,
      complete: this.complete,
    };
  }

  /** The received tensors, in manifest order (views of the assembled buffer where aligned). */
  tensors(): Array<{ spec: TensorSpec; tensor: TypedTensor }> {
    this.assertComplete();
    return this.manifest.tensors.map((spec, k) => ({
      spec,
      tensor: decodeTensor(spec, this.tensorBytes(k), { maxTensorBytes: spec.byteLength }),
    }));
  }

  /** The received float tensors as host tensors (FLOAT16 decoded to float32); INVALID_TENSOR for other dtypes. */
  hostTensors(): HostTensorMap {
    this.assertComplete();
    const out = new Map<string, HostTensor>();
    this.manifest.tensors.forEach((spec, k) => {
      out.set(spec.name, decodeHostTensor(spec, this.tensorBytes(k), { maxTensorBytes: spec.byteLength }));
    });
    return out;
  }

  private tensorBytes(k: number): Uint8Array {
    const start = this.layout.tensorStart(k);
    return (this.buffer ?? new Uint8Array(0)).subarray(start, this.layout.ends[k]);
  }

  private assertComplete(): void {
    if (this.failure) throw this.failure;
    if (!this.complete) {
      throw new FedpeftError(
        'TRANSFER_INCOMPLETE',
        `transfer ${this.manifest.transferId}: ${this.contiguous} of ${this.layout.chunkCount} chunks in order so far`,
      );
    }
  }

  /** Extends the verified prefix over every chunk now in, updating the running whole-stream CRC. */
  private advancePrefix(): void {
    const buffer = this.buffer!;
    const { layout } = this;
    let next = this.contiguous;
    while (next < layout.chunkCount && this.received[next] === 1) {
      const start = layout.chunkStart(next);
      this.prefixCrc = crc32(buffer.subarray(start, start + layout.chunkLength(next)), this.prefixCrc);
      if (next !== this.contiguous) this.beyond--;
      next++;
    }
    this.contiguous = next;
    if (next === layout.chunkCount) this.verifyWhole();
  }

  private verifyWhole(): void {
    const expected = this.manifest.crc32 >>> 0;
    if (this.prefixCrc !== expected) {
      this.failure = new FedpeftError(
        'TRANSFER_CHECKSUM',
        `transfer ${this.manifest.transferId}: CRC-32 of the assembled ${this.layout.totalBytes} bytes is ` +
          `${this.prefixCrc.toString(16)}, the manifest says ${expected.toString(16)}; the transfer is discarded`,
      );
      this.buffer = undefined;
      throw this.failure;
    }
  }
}
