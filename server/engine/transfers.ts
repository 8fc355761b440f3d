/**
 * Downloads the coordinator serves: the current global state (`global-r<next round>`) and every fold of the
 * fold history (`fold-<index>`). A client asks for (the rest of) one with a ChunkAck for its transfer id;
 * any other id is TRANSFER_UNKNOWN.
 */
import { FedpeftError } from '../../shared/errors.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { OutgoingTransfer } from '../../shared/wire/chunking.ts';
import type { ChunkAck } from '../../shared/wire/messages.ts';
import type { ClientSession } from '../client-session.ts';
import type { CoordinatorConfig } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { FoldHistory } from './fold-history.ts';

export class Transfers {
  private global!: OutgoingTransfer;

  constructor(
    private readonly config: CoordinatorConfig,
    private readonly folds: FoldHistory,
    private readonly logger: Logger,
  ) {}

  /** The transfer of the global state the next round (`completed + 1`) starts from. */
  publishGlobal(completed: number, global: HostTensorMap): void {
    this.global = OutgoingTransfer.fromHostTensors(`global-r${completed + 1}`, global, {
      chunkBytes: this.config.transport.chunkBytes,
    });
  }

  get globalManifest(): OutgoingTransfer['manifest'] {
    return this.global.manifest;
  }

  /** A ChunkAck with no send in progress asks for (the rest of) a download. */
  handleAck(session: ClientSession, ack: ChunkAck): void {
    if (ack.complete) return;
    const transfer =
      ack.transferId === this.global.manifest.transferId ? this.global : this.folds.transfer(ack.transferId);
    if (!transfer) {
      throw new FedpeftError(
        'TRANSFER_UNKNOWN',
        `transfer ${ack.transferId.slice(0, 64)} is not available; the current global state is ` +
          `${this.global.manifest.transferId} and the run has ${this.folds.count} fold(s) (fold-<index>)`,
      );
    }
    this.send(session, transfer, ack);
  }

  /** Streams the current global state to `session` (from `resumeAck` when the client holds part of it). */
  sendGlobal(session: ClientSession, resumeAck?: ChunkAck): void {
    this.send(session, this.global, resumeAck);
  }

  private send(session: ClientSession, transfer: OutgoingTransfer, resumeAck?: ChunkAck): void {
    const peer = session.peer;
    if (!peer?.isOpen) return;
    peer
      .sendTransfer(transfer, {
        announce: false,
        ...(resumeAck ? { resumeFrom: resumeAck } : {}),
        window: this.config.transport.maxInFlightChunks,
      })
      .catch((err: unknown) =>
        this.logger.log('debug', 'download-interrupted', {
          session: session.id,
          message: (err as Error).message,
        }),
      );
  }
}
