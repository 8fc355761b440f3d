/**
 * The receiving side of every chunked transfer one session has open, kept at the session level (not per
 * connection) so a reconnect resumes from the acknowledged prefix. Bounded: a sender cannot open more than
 * `maxOpenTransfers` transfers or announce more than `maxOpenBytes` in total, so untrusted manifests cannot
 * make the receiver reserve memory without bound.
 */
import { FedpeftError } from '../errors.ts';
import { TransferReceiver, type ReceiverLimits } from './chunking.ts';
import type { ChunkAck, TensorChunk, TransferManifest } from './messages.ts';
import { DEFAULT_MAX_TRANSFER_BYTES } from './limits.ts';

export interface TransferInboxLimits extends ReceiverLimits {
  /** Transfers open at once (default 4). */
  maxOpenTransfers?: number;
  /** Bytes announced by all open transfers together (default: 2 x maxTransferBytes). */
  maxOpenBytes?: number;
}

/** Decides, before anything is allocated, whether an announced manifest may open (throws to refuse). */
export type UploadAdmission = (manifest: TransferManifest) => void;

/** Used transfer ids remembered per session (oldest forgotten first), so the set cannot grow without bound. */
const MAX_CLOSED_IDS = 1024;

function sameManifest(a: TransferManifest, b: TransferManifest): boolean {
  return (
    a.transferId === b.transferId &&
    a.totalBytes === b.totalBytes &&
    a.chunkBytes === b.chunkBytes &&
    a.chunkCount === b.chunkCount &&
    a.crc32 >>> 0 === b.crc32 >>> 0 &&
    a.tensors.length === b.tensors.length &&
    a.tensors.every((t, i) => {
      const u = b.tensors[i]!;
      return (
        t.name === u.name &&
        t.dtype === u.dtype &&
        t.byteLength === u.byteLength &&
        t.shape.length === u.shape.length &&
        t.shape.every((d, k) => d === u.shape[k])
      );
    })
  );
}

export class TransferInbox {
  private readonly open = new Map<string, TransferReceiver>();
  /** Ids finished or abandoned: chunks for them are TRANSFER_UNKNOWN, and the id may not be reused. */
  private readonly closed = new Set<string>();
  private readonly maxOpen: number;
  private readonly maxOpenBytes: number;
  private admission: UploadAdmission | undefined;

  constructor(private readonly limits: TransferInboxLimits = {}) {
    this.maxOpen = limits.maxOpenTransfers ?? 4;
    this.maxOpenBytes = limits.maxOpenBytes ?? 2 * (limits.maxTransferBytes ?? DEFAULT_MAX_TRANSFER_BYTES);
  }

  /**
   * Opens a transfer for an untrusted manifest and returns its ack. Announcing the same manifest again (a
   * sender resuming after a reconnect) keeps what was received; a different manifest under a used id is
   * MALFORMED_MESSAGE.
   */
  announce(manifest: TransferManifest): ChunkAck {
    const existing = this.open.get(manifest.transferId);
    if (existing) {
      if (!sameManifest(existing.manifest, manifest)) {
        throw new FedpeftError(
          'MALFORMED_MESSAGE',
          `transfer ${manifest.transferId} was already announced with a different manifest; use a new transfer id`,
        );
      }
      return existing.ack();
    }
    if (this.closed.has(manifest.transferId)) {
      throw new FedpeftError(
        'MALFORMED_MESSAGE',
        `transfer id ${manifest.transferId} was already used in this session; use a new transfer id`,
      );
    }
    if (this.open.size >= this.maxOpen) {
      throw new FedpeftError(
        'TRANSFER_TOO_LARGE',
        `${this.open.size} transfers are already open for this session (at most ${this.maxOpen}); finish or abandon one first`,
      );
    }
    const receiver = new TransferReceiver(manifest, this.limits);
    this.admission?.(manifest);
    const openBytes = this.openBytes;
    if (openBytes + manifest.totalBytes > this.maxOpenBytes) {
      throw new FedpeftError(
        'TRANSFER_TOO_LARGE',
        `transfer ${manifest.transferId} (${manifest.totalBytes} bytes) would bring this session's open transfers to ` +
          `${openBytes + manifest.totalBytes} bytes; at most ${this.maxOpenBytes}`,
      );
    }
    this.open.set(manifest.transferId, receiver);
    return receiver.ack();
  }

  /** Accepts one untrusted chunk; see `TransferReceiver.accept` for the errors. A failed transfer is dropped. */
  accept(chunk: TensorChunk): ChunkAck {
    const receiver = this.open.get(chunk.transferId);
    if (!receiver) {
      throw new FedpeftError(
        'TRANSFER_UNKNOWN',
        this.closed.has(chunk.transferId)
          ? `transfer ${chunk.transferId} is already finished`
          : `transfer ${chunk.transferId} was never announced; send its manifest first`,
      );
    }
    try {
      return receiver.accept(chunk);
    } catch (err) {
      if ((err as FedpeftError).code === 'TRANSFER_CHECKSUM') this.abandon(chunk.transferId);
      throw err;
    }
  }

  get(transferId: string): TransferReceiver | undefined {
    return this.open.get(transferId);
  }

  has(transferId: string): boolean {
    return this.open.has(transferId);
  }

  /** Removes a complete transfer and returns it (TRANSFER_UNKNOWN / TRANSFER_INCOMPLETE otherwise). */
  take(transferId: string): TransferReceiver {
    const receiver = this.open.get(transferId);
    if (!receiver) {
      throw new FedpeftError(
        'TRANSFER_UNKNOWN',
        this.closed.has(transferId)
          ? `transfer ${transferId} was already used`
          : `transfer ${transferId} was never announced`,
      );
    }
    if (!receiver.complete) {
      const ack = receiver.ack();
      throw new FedpeftError(
        'TRANSFER_INCOMPLETE',
        `transfer ${transferId}: ${ack.contiguousCount} of ${receiver.manifest.chunkCount} chunks received in order; ` +
          `send the rest before committing`,
      );
    }
    this.open.delete(transferId);
    this.remember(transferId);
    return receiver;
  }

  /** Drops an open transfer (superseded, failed, cancelled, or its round closed); its id cannot be reused. */
  abandon(transferId: string): void {
    if (this.open.delete(transferId)) this.remember(transferId);
  }

  /** Drops every open transfer (the session expired, or was dropped from its round). */
  abandonAll(): void {
    for (const id of [...this.open.keys()]) this.abandon(id);
  }

  /** Sets the check every new manifest passes before its transfer opens (the coordinator's admission). */
  admitWith(admission: UploadAdmission | undefined): void {
    this.admission = admission;
  }

  /** Bytes announced by the open transfers. */
  get openBytes(): number {
    let sum = 0;
    for (const r of this.open.values()) sum += r.manifest.totalBytes;
    return sum;
  }

  private remember(transferId: string): void {
    this.closed.add(transferId);
    if (this.closed.size > MAX_CLOSED_IDS) this.closed.delete(this.closed.values().next().value!);
  }

  /**
   * Acks of every open transfer, complete ones included (their sender only has to commit): what
   * `Welcome.resume_uploads` / `Join.resume_downloads` carry.
   */
  pendingAcks(): ChunkAck[] {
    return [...this.open.values()].map((r) => r.ack());
  }

  get openCount(): number {
    return this.open.size;
  }
}
