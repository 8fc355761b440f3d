/**
 * The session layer both sides share, over any `FrameLink` (socket.io, in-memory): encode/validate every frame,
 * correlate requests and replies (`request_id` / `in_reply_to`), answer bad input with an `Error` frame
 * instead of crashing, heartbeats with silent-peer detection, and chunked transfers in both directions
 * (windowed send with per-chunk acks; receive through a session-level `TransferInbox`, so a reconnect resumes
 * from the acknowledged prefix). One `Peer` lives per connection; identities and inboxes outlive it.
 *
 * Frames addressed to the application (anything that is not a reply, a chunk, a manifest or an ack) go to
 * the `onMessage` handler; an exception it throws becomes an `Error` reply to that frame.
 */
import { FedpeftError, isFedpeftError } from '../errors.ts';
import type { OutgoingTransfer } from './chunking.ts';
import type { FrameLink } from './frame-link.ts';
import {
  encodeFrame,
  fromWireError,
  toWireError,
  type ChunkAck,
  type Frame,
  type MessageBody,
  type MessageInput,
  type Sender,
  type WireMessageInput,
} from './messages.ts';
import { InboundGuard, type InboundRateLimits } from './inbound-guard.ts';
import { MAX_FRAME_BYTES } from './limits.ts';
import type { TransferInbox } from './transfer-inbox.ts';

export type PeerEvent =
  | { type: 'protocol-error'; code: string; message: string; direction: 'received' | 'sent' }
  | { type: 'closed'; reason: string };

export interface PeerOptions {
  /** This side (frames are decoded as coming from the other side). */
  side: Sender;
  link: FrameLink;
  maxFrameBytes?: number;
  /** Default timeout of `request` (ms; default 30 s). */
  requestTimeoutMs?: number;
  /** Receives incoming chunks and manifests of transfers; without it they are UNEXPECTED_MESSAGE. */
  inbox?: TransferInbox;
  /** Observes errors and closing, for structured logs. */
  onEvent?: (event: PeerEvent) => void;
  /** Token-bucket limits on what the other side sends (the coordinator sets them; docs/protocol.md). */
  inboundRate?: InboundRateLimits;
}

export interface SendTransferOptions {
  /** Send a `transfer_manifest` frame first (uploads). Downloads carry the manifest in another message. */
  announce: boolean;
  /** Resume: chunks the receiver already holds (from `Welcome.resume_uploads` or a received ack). */
  resumeFrom?: ChunkAck;
  /** Unacknowledged chunks in flight (default 8). */
  window?: number;
  /** Resend unacknowledged chunks after this long without ack progress (ms; default 10 s). */
  stallMs?: number;
  /** Called after each ack with the acknowledged prefix. */
  onProgress?: (contiguous: number, total: number) => void;
}

interface PendingRequest {
  resolve: (frame: Frame) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface ActiveSend {
  onAck: (ack: ChunkAck) => void;
  onError: (err: FedpeftError) => void;
  fail: (err: Error) => void;
}

type MessageHandler = (frame: Frame, peer: Peer) => void | Promise<void>;

/** How long a connection the guard closes stays open for its last Error frame to leave. */
const CLOSE_FLUSH_MS = 100;

const OTHER: Record<Sender, Sender> = { client: 'coordinator', coordinator: 'client' };

export class Peer {
  readonly side: Sender;
  readonly link: FrameLink;
  private readonly maxFrameBytes: number;
  private readonly requestTimeoutMs: number;
  private inbox: TransferInbox | undefined;
  private readonly onEvent: ((event: PeerEvent) => void) | undefined;
  private readonly guard: InboundGuard;
  private nextRequestId = 1;
  private readonly pending = new Map<number, PendingRequest>();
  private readonly sends = new Map<string, ActiveSend>();
  private readonly handlers: MessageHandler[] = [];
  private readonly closeHandlers: Array<(reason: string) => void> = [];
  private readonly transferHandlers: Array<(transferId: string) => void> = [];
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  /** Set when the guard decided to close: later frames are ignored while the last Error is flushed. */
  private closing = false;
  private closeReason = '';
  /** Wall clock of the last frame received (any frame proves the peer alive). */
  lastHeardAt = Date.now();
  bytesSent = 0;
  bytesReceived = 0;

  constructor(options: PeerOptions) {
    this.side = options.side;
    this.link = options.link;
    this.maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.inbox = options.inbox;
    this.onEvent = options.onEvent;
    this.guard = new InboundGuard({
      from: OTHER[this.side],
      maxFrameBytes: this.maxFrameBytes,
      ...(options.inboundRate ? { rate: options.inboundRate } : {}),
    });
    this.link.onFrame((frame) => this.receive(frame));
    this.link.onClose((reason) => this.shutdown(reason));
    if (!this.link.isOpen) this.shutdown('link was already closed');
  }

  get isOpen(): boolean {
    return !this.closed && this.link.isOpen;
  }

  /** Attach (or replace) the session's inbox, e.g. once a Join identified the session. */
  setInbox(inbox: TransferInbox | undefined): void {
    this.inbox = inbox;
  }

  onMessage(handler: MessageHandler): void {
    this.handlers.push(handler);
  }

  onClose(handler: (reason: string) => void): void {
    if (this.closed) handler(this.closeReason);
    else this.closeHandlers.push(handler);
  }

  /** Called when an incoming transfer becomes complete (all chunks in, CRC verified). */
  onTransferComplete(handler: (transferId: string) => void): void {
    this.transferHandlers.push(handler);
  }

  /** Sends one message; returns its request id (0 unless `expectReply`). Dropped silently on a closed link. */
  send(message: WireMessageInput, options: { inReplyTo?: number; expectReply?: boolean } = {}): number {
    const requestId = options.expectReply ? this.allocateRequestId() : 0;
    const bytes = encodeFrame(
      { requestId, inReplyTo: options.inReplyTo ?? 0, message },
      { from: this.side, maxFrameBytes: this.maxFrameBytes },
    );
    if (this.isOpen) {
      this.bytesSent += bytes.length;
      this.link.send(bytes);
    }
    return requestId;
  }

  /** Sends a request and waits for the frame that answers it; an `error` reply rejects with its FedpeftError. */
  request(message: WireMessageInput, timeoutMs = this.requestTimeoutMs): Promise<Frame> {
    if (!this.isOpen) return Promise.reject(this.closedError());
    return new Promise<Frame>((resolve, reject) => {
      const id = this.allocateRequestId();
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new FedpeftError('REQUEST_TIMEOUT', `no reply to ${message.kind} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        const bytes = encodeFrame(
          { requestId: id, message },
          { from: this.side, maxFrameBytes: this.maxFrameBytes },
        );
        this.bytesSent += bytes.length;
        this.link.send(bytes);
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Sends an `Error` for `err` (FedpeftError codes kept; anything else INTERNAL), optionally as a reply. */
  sendError(err: unknown, context: { roundId?: number; transferId?: string; inReplyTo?: number } = {}): void {
    const body = toWireError(err, context);
    try {
      this.send({ kind: 'error', body }, { inReplyTo: context.inReplyTo ?? 0 });
    } catch {
      // The error body itself failed validation (e.g. a transfer id that is not a valid id): send it bare.
      this.send({ kind: 'error', body: { ...body, transferId: '' } }, { inReplyTo: context.inReplyTo ?? 0 });
    }
    this.onEvent?.({
      type: 'protocol-error',
      code: isFedpeftError(err) ? err.code : 'INTERNAL',
      message: err instanceof Error ? err.message : String(err),
      direction: 'sent',
    });
  }

  /**
   * Sends the chunks of `transfer` the receiver lacks, with at most `window` unacknowledged, and resolves
   * when the receiver acks the transfer complete. Rejects on TRANSFER_CHECKSUM / TRANSFER_UNKNOWN /
   * TRANSFER_TOO_LARGE errors from the receiver, or when the link closes (resume later with `resumeFrom`).
   */
  sendTransfer(transfer: OutgoingTransfer, options: SendTransferOptions): Promise<void> {
    const id = transfer.manifest.transferId;
    if (!this.isOpen) return Promise.reject(this.closedError());
    this.sends.get(id)?.fail(new FedpeftError('TRANSFER_SUPERSEDED', `transfer ${id} was restarted`));
    const window = Math.max(1, options.window ?? 8);
    const stallMs = options.stallMs ?? 10_000;
    const total = transfer.chunkCount;
    return new Promise<void>((resolve, reject) => {
      const start: ChunkAck = options.resumeFrom ?? {
        transferId: id,
        contiguousCount: 0,
        receivedAfter: [],
        complete: false,
      };
      let queue = transfer.pendingAfter(start);
      const inFlight = new Set<number>();
      let stallTimer: ReturnType<typeof setTimeout> | undefined;
      let done = false;
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(stallTimer);
        if (this.sends.get(id) === active) this.sends.delete(id);
        if (err) reject(err);
        else resolve();
      };
      const armStall = () => {
        clearTimeout(stallTimer);
        stallTimer = setTimeout(() => {
          // No ack progress: the chunks may have been lost with a frame (or rejected by CRC); resend them.
          queue = [...[...inFlight].sort((x, y) => x - y), ...queue];
          inFlight.clear();
          pump();
        }, stallMs);
      };
      const pump = () => {
        if (done) return;
        try {
          while (inFlight.size < window && queue.length > 0) {
            const index = queue.shift()!;
            inFlight.add(index);
            this.send({ kind: 'tensorChunk', body: transfer.chunk(index) });
          }
        } catch (err) {
          finish(err as Error);
          return;
        }
        armStall();
      };
      const active: ActiveSend = {
        onAck: (ack) => {
          if (ack.complete) {
            options.onProgress?.(total, total);
            finish();
            return;
          }
          const have = new Set(ack.receivedAfter);
          for (const i of inFlight) if (i < ack.contiguousCount || have.has(i)) inFlight.delete(i);
          queue = queue.filter((i) => i >= ack.contiguousCount && !have.has(i));
          options.onProgress?.(ack.contiguousCount, total);
          pump();
        },
        onError: (err) => {
          if (err.code === 'CHUNK_DUPLICATE' || err.code === 'CHUNK_CHECKSUM') return; // the stall timer resends
          finish(err);
        },
        fail: (err) => finish(err),
      };
      this.sends.set(id, active);
      if (options.announce) {
        // The receiver answers a manifest with its ack: after a reconnect that ack already names the chunks
        // it holds, so re-announcing resumes by itself. Chunks start flowing when that ack arrives (or, from
        // a receiver that does not ack manifests, when the stall timer fires).
        try {
          this.send({ kind: 'transferManifest', body: transfer.manifest });
        } catch (err) {
          finish(err as Error);
          return;
        }
        armStall();
        return;
      }
      if (total === 0) {
        finish();
        return;
      }
      pump();
    });
  }

  /** Periodic heartbeats; the peer is considered gone (and the link closed) after 3 silent intervals. */
  startHeartbeat(intervalMs: number, state: () => Partial<MessageInput<'heartbeat'>> = () => ({})): void {
    this.stopHeartbeat();
    if (intervalMs <= 0 || this.closed) return;
    this.lastHeardAt = Date.now();
    this.heartbeatTimer = setInterval(() => {
      if (Date.now() - this.lastHeardAt > 3 * intervalMs) {
        this.close(`peer silent for more than ${3 * intervalMs} ms (3 heartbeat intervals)`);
        return;
      }
      try {
        this.send({ kind: 'heartbeat', body: { sentUnixMs: Date.now(), ...state() } });
      } catch {
        // A heartbeat that cannot be encoded is a local bug in `state`; the watchdog still runs.
      }
    }, intervalMs);
    (this.heartbeatTimer as { unref?: () => void }).unref?.();
  }

  stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  close(reason = 'closed locally'): void {
    if (this.closed) return;
    this.link.close(reason);
    this.shutdown(reason);
  }

  /**
   * Closes shortly after answering, so the Error frame that explains the close is not discarded with the
   * transport's send buffer; frames that arrive meanwhile are ignored.
   */
  private closeAfterFlush(reason: string): void {
    this.closing = true;
    const timer = setTimeout(() => this.close(reason), CLOSE_FLUSH_MS);
    (timer as { unref?: () => void }).unref?.();
  }

  private allocateRequestId(): number {
    const id = this.nextRequestId;
    this.nextRequestId = this.nextRequestId >= 0xffffffff ? 1 : this.nextRequestId + 1;
    return id;
  }

  private closedError(): FedpeftError {
    return new FedpeftError(
      'CONNECTION_CLOSED',
      `connection closed${this.closeReason ? `: ${this.closeReason}` : ''}`,
    );
  }

  private shutdown(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.stopHeartbeat();
    const err = this.closedError();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    for (const s of [...this.sends.values()]) s.fail(err);
    this.sends.clear();
    this.onEvent?.({ type: 'closed', reason });
    for (const h of this.closeHandlers) h(reason);
    this.closeHandlers.length = 0;
  }

  /** Every inbound frame, whatever the link handed over: through the guard first; nothing throws out. */
  private receive(raw: unknown): void {
    if (this.closed || this.closing) return;
    this.lastHeardAt = Date.now();
    const verdict = this.guard.check(raw);
    this.bytesReceived += verdict.bytes;
    if (!verdict.ok) {
      const err = verdict.error;
      this.onEvent?.({ type: 'protocol-error', code: err.code, message: err.message, direction: 'received' });
      try {
        if (verdict.answer) this.sendError(err, { inReplyTo: verdict.inReplyTo });
      } catch {
        // The link failed while answering; closing below (or the link's own close) ends the session.
      }
      if (verdict.close) this.closeAfterFlush(`${err.code}: ${err.message.slice(0, 200)}`);
      return;
    }
    const frame = verdict.frame;
    try {
      this.dispatch(frame);
    } catch (err) {
      // dispatch only throws for protocol violations of the transfer layer; report and carry on.
      try {
        this.sendError(err, { inReplyTo: frame.requestId });
      } catch {
        // nothing more to do for this frame
      }
    }
  }

  private dispatch(frame: Frame): void {
    const { message } = frame;
    if (frame.inReplyTo !== 0) {
      const pending = this.pending.get(frame.inReplyTo);
      if (pending) {
        this.pending.delete(frame.inReplyTo);
        clearTimeout(pending.timer);
        if (message.kind === 'error') pending.reject(fromWireError(message.body));
        else pending.resolve(frame);
        return;
      }
    }
    switch (message.kind) {
      case 'chunkAck': {
        const send = this.sends.get(message.body.transferId);
        if (send) {
          send.onAck(message.body);
          return;
        }
        break; // an ack with no send in progress may be a download request: the application decides
      }
      case 'error': {
        const send = message.body.transferId ? this.sends.get(message.body.transferId) : undefined;
        if (send) {
          send.onError(fromWireError(message.body));
          return;
        }
        this.onEvent?.({
          type: 'protocol-error',
          code: fromWireError(message.body).code,
          message: message.body.message,
          direction: 'received',
        });
        break;
      }
      case 'transferManifest':
        if (this.inbox) {
          this.receiveManifest(message.body);
          return;
        }
        break;
      case 'tensorChunk':
        if (this.inbox) {
          this.receiveChunk(message.body);
          return;
        }
        break;
      case 'heartbeat':
        // Echo only heartbeats that are not themselves echoes, so two peers do not ping-pong forever.
        if (message.body.echoUnixMs === 0 && this.side === 'coordinator') {
          this.send({
            kind: 'heartbeat',
            body: { sentUnixMs: Date.now(), echoUnixMs: message.body.sentUnixMs },
          });
        }
        break;
      default:
        break;
    }
    this.deliver(frame);
  }

  /** Opens an incoming transfer whose manifest arrived in another message (a download's RoundInstruction). */
  expectTransfer(manifest: MessageBody<'transferManifest'>): ChunkAck {
    if (!this.inbox) throw new FedpeftError('UNEXPECTED_MESSAGE', 'this connection accepts no transfers yet');
    const ack = this.inbox.announce(manifest);
    if (ack.complete) this.notifyComplete(manifest.transferId);
    return ack;
  }

  private receiveManifest(manifest: MessageBody<'transferManifest'>): void {
    try {
      const ack = this.expectTransfer(manifest);
      this.send({ kind: 'chunkAck', body: ack });
    } catch (err) {
      this.sendError(err, { transferId: manifest.transferId });
    }
  }

  private receiveChunk(chunk: MessageBody<'tensorChunk'>): void {
    const inbox = this.inbox!;
    let ack: ChunkAck;
    try {
      ack = inbox.accept(chunk);
    } catch (err) {
      this.sendError(err, { transferId: chunk.transferId });
      const current = inbox.get(chunk.transferId);
      // A duplicate means the sender missed our ack: repeat it so it can move on.
      if (isFedpeftError(err) && err.code === 'CHUNK_DUPLICATE' && current) {
        this.send({ kind: 'chunkAck', body: current.ack() });
      }
      return;
    }
    this.send({ kind: 'chunkAck', body: ack });
    if (ack.complete) this.notifyComplete(chunk.transferId);
  }

  private notifyComplete(transferId: string): void {
    for (const h of this.transferHandlers) {
      try {
        h(transferId);
      } catch (err) {
        this.sendError(err, { transferId });
      }
    }
  }

  private deliver(frame: Frame): void {
    if (this.handlers.length === 0) {
      if (
        frame.message.kind !== 'heartbeat' &&
        frame.message.kind !== 'error' &&
        frame.message.kind !== 'chunkAck'
      ) {
        this.sendError(
          new FedpeftError('UNEXPECTED_MESSAGE', `nothing here handles ${frame.message.kind} messages`),
          { inReplyTo: frame.requestId },
        );
      }
      return;
    }
    for (const handler of this.handlers) {
      let result: void | Promise<void>;
      try {
        result = handler(frame, this);
      } catch (err) {
        this.sendError(err, { inReplyTo: frame.requestId });
        continue;
      }
      if (result instanceof Promise) {
        result.catch((err: unknown) => this.sendError(err, { inReplyTo: frame.requestId }));
      }
    }
  }
}
