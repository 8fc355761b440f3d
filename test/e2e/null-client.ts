/**
 * A synthetic client for coordinator tests, written on the shared `Peer` layer: it joins, downloads each
 * round's global state, and uploads a deterministic "null trainer" update (global + a per-client offset), so
 * every aggregate can be checked against an offline weighted mean. It reconnects with its session after a
 * disconnect and resumes unfinished uploads from the coordinator's acknowledged prefix.
 */
import { io, type Socket } from 'socket.io-client';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { OutgoingTransfer } from '../../shared/wire/chunking.ts';
import type { FrameLink } from '../../shared/wire/frame-link.ts';
import { DType } from '../../shared/wire/tensor-codec.ts';
import { decodeFrame, type ChunkAck, type MessageBody } from '../../shared/wire/messages.ts';
import { Peer } from '../../shared/wire/peer.ts';
import { socketIoLink } from '../../shared/wire/socket-io-link.ts';
import { TransferInbox } from '../../shared/wire/transfer-inbox.ts';

/** The null trainer: global + (index + 1) * 1e-3 * ((i % 7) + 1) + 1e-4 * round, elementwise. */
export function nullUpdate(global: HostTensorMap, index: number, round: number): HostTensorMap {
  const out: HostTensorMap = new Map();
  for (const [name, t] of global) {
    const data = new Float32Array(t.data.length);
    for (let i = 0; i < data.length; i++)
      data[i] = t.data[i]! + (index + 1) * 1e-3 * ((i % 7) + 1) + 1e-4 * round;
    out.set(name, { shape: [...t.shape], data });
  }
  return out;
}

/** Offline reference: the weighted mean of the null updates of `clients` (index, weight) from `global`. */
export function expectedMean(
  global: HostTensorMap,
  round: number,
  clients: ReadonlyArray<{ index: number; weight: number }>,
): HostTensorMap {
  const out: HostTensorMap = new Map();
  const total = clients.reduce((s, c) => s + c.weight, 0);
  for (const [name, t] of global) {
    const acc = new Float64Array(t.data.length);
    for (const c of clients) {
      const u = nullUpdate(new Map([[name, t]]), c.index, round).get(name)!;
      for (let i = 0; i < acc.length; i++) acc[i]! += c.weight * u.data[i]!;
    }
    out.set(name, { shape: [...t.shape], data: Float32Array.from(acc, (v) => v / total) });
  }
  return out;
}

export interface NullClientOptions {
  name: string;
  index: number;
  token: string;
  method: string;
  signature?: Float32Array;
  /** socket.io URL, or a factory of in-process links. */
  url?: string;
  connectLink?: () => FrameLink;
  weight?: number;
  chunkBytes?: number;
  /** Delay before uploading (simulated training time). */
  trainMs?: (round: number) => number;
  /** Awaited before uploading (tests hold a round open until they are done with it). */
  beforeUpload?: (round: number) => Promise<void>;
  /** Return false to ignore a round (the client stays silent). */
  participate?: (round: number) => boolean;
  /** Called with the ack prefix during an upload (tests cut the connection there). */
  onUploadProgress?: (client: NullClient, round: number, contiguous: number, total: number) => void;
  /** Reconnect automatically after a disconnect (default true), retrying every `retryMs`. */
  reconnect?: boolean;
  retryMs?: number;
}

export class NullClient {
  sessionId = '';
  sessionToken = '';
  peer: Peer | undefined;
  socket: Socket | undefined;
  readonly receipts: number[] = [];
  /** Rounds the coordinator instructed again after this client held their receipt (a rollback). */
  readonly rolledBack: number[] = [];
  readonly errors: string[] = [];
  readonly globals = new Map<number, HostTensorMap>();
  readonly inbox = new TransferInbox({ maxOpenTransfers: 8 });
  finished = false;
  resumeUploads: ChunkAck[] = [];
  /** Upload chunks sent per connection (index = connection number). */
  readonly chunksSent: number[] = [];
  private uploads = new Map<number, OutgoingTransfer>();
  private working = new Set<number>();
  private stopped = false;
  private connecting: Promise<void> | undefined;

  constructor(readonly options: NullClientOptions) {}

  async connect(): Promise<void> {
    this.connecting ??= this.connectOnce().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  stop(): void {
    this.stopped = true;
    this.peer?.close('client stopped');
    this.socket?.disconnect();
  }

  /** Drops the connection (as a network failure would); reconnects if enabled. */
  cut(): void {
    this.peer?.close('simulated network failure');
  }

  private async openLink(): Promise<FrameLink> {
    if (this.options.connectLink) return this.options.connectLink();
    const socket = io(this.options.url, { transports: ['websocket'], reconnection: false, forceNew: true });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (err) => reject(err));
    });
    return socketIoLink(socket, `client:${this.options.name}`);
  }

  private async connectOnce(): Promise<void> {
    const link = await this.openLink();
    const peer = new Peer({ side: 'client', link, inbox: this.inbox });
    this.peer = peer;
    this.chunksSent.push(0);
    const conn = this.chunksSent.length - 1;
    const origSend = link.send.bind(link);
    link.send = (frame) => {
      if (decodeFrame(frame, { from: 'client' }).message.kind === 'tensorChunk') this.chunksSent[conn]! += 1;
      origSend(frame);
    };
    peer.onMessage((frame) => this.handle(peer, frame.message));
    peer.onClose(() => {
      if (this.options.reconnect === false || this.stopped || this.finished) return;
      setTimeout(() => void this.retry(), this.options.retryMs ?? 100);
    });
    const sig = this.options.signature;
    const reply = await peer.request({
      kind: 'join',
      body: {
        clientName: this.options.name,
        authToken: this.options.token,
        capabilities: {
          backend: 'null',
          supportedMethods: [this.options.method],
          numExamples: this.options.weight ?? this.options.index + 1,
        },
        resumeSessionId: this.sessionId,
        resumeSessionToken: this.sessionToken,
        signatures: sig
          ? [
              {
                method: this.options.method,
                value: {
                  spec: {
                    name: 'signature',
                    dtype: DType.FLOAT32,
                    shape: [sig.length],
                    byteLength: sig.byteLength,
                  },
                  data: new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength),
                },
              },
            ]
          : [],
        lastCommittedRound: this.receipts.at(-1) ?? 0,
      },
    });
    if (reply.message.kind !== 'welcome') throw new Error(`expected welcome, got ${reply.message.kind}`);
    this.sessionId = reply.message.body.sessionId;
    this.sessionToken = reply.message.body.sessionToken;
    this.resumeUploads = reply.message.body.resumeUploads;
    // Unfinished uploads resume when the coordinator re-sends the round's instruction: re-announcing the
    // same transfer makes it ack the chunks it holds (listed here in resumeUploads), and only the rest travel.
  }

  private async retry(): Promise<void> {
    while (!this.stopped && !this.finished) {
      try {
        await this.connect();
        return;
      } catch (err) {
        if ((err as { code?: string }).code === 'UNKNOWN_SESSION') {
          this.sessionId = '';
          this.sessionToken = '';
        }
        await new Promise((r) => setTimeout(r, this.options.retryMs ?? 100));
      }
    }
  }

  private handle(peer: Peer, message: { kind: string; body: unknown }): void {
    if (message.kind === 'error') {
      this.errors.push(String((message.body as MessageBody<'error'>).code));
      return;
    }
    if (message.kind === 'goodbye') {
      if ((message.body as MessageBody<'goodbye'>).runComplete) this.finished = true;
      return;
    }
    if (message.kind === 'roundInstruction')
      void this.train(peer, message.body as MessageBody<'roundInstruction'>);
  }

  private async train(peer: Peer, instruction: MessageBody<'roundInstruction'>): Promise<void> {
    const round = instruction.roundId;
    if (this.working.has(round)) return;
    if (this.receipts.includes(round)) {
      // As the real client does: the coordinator only instructs clients whose update it lacks, so it rolled
      // this round back (resumed from an older checkpoint): train it again.
      this.rolledBack.push(round);
      this.receipts.splice(this.receipts.indexOf(round), 1);
      this.uploads.delete(round);
    }
    if (this.options.participate && !this.options.participate(round)) return;
    const pending = this.uploads.get(round);
    this.working.add(round);
    try {
      const manifest = instruction.globalState;
      let global = this.globals.get(round);
      if (!global) {
        const done = new Promise<void>((resolve) =>
          peer.onTransferComplete((id) => id === manifest.transferId && resolve()),
        );
        const ack = peer.expectTransfer(manifest);
        if (!ack.complete) await done;
        global = this.inbox.take(manifest.transferId).hostTensors();
        this.globals.set(round, global);
      }
      if (pending) {
        // Re-announce: the coordinator's ack says which chunks it still needs.
        await this.finishUpload(this.peer!, round, pending, undefined);
        return;
      }
      const delay = this.options.trainMs?.(round) ?? 0;
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      await this.options.beforeUpload?.(round);
      const t = OutgoingTransfer.fromHostTensors(
        `u-${this.options.name}-r${round}`,
        nullUpdate(global, this.options.index, round),
        { chunkBytes: this.options.chunkBytes ?? 64 * 1024 },
      );
      this.uploads.set(round, t);
      await this.finishUpload(this.peer!, round, t, undefined);
    } catch {
      // Connection lost mid-round: the reconnect resumes the upload (or the coordinator re-sends the instruction).
    } finally {
      this.working.delete(round);
    }
  }

  private async finishUpload(
    peer: Peer,
    round: number,
    t: OutgoingTransfer,
    resumeFrom: ChunkAck | undefined,
  ): Promise<void> {
    try {
      await peer.sendTransfer(t, {
        announce: resumeFrom === undefined,
        ...(resumeFrom ? { resumeFrom } : {}),
        onProgress: (n, total) => this.options.onUploadProgress?.(this, round, n, total),
      });
    } catch (err) {
      // The coordinator refuses an upload at its manifest (round over, not sampled, wrong tensors).
      const code = (err as { code?: string }).code;
      if (code && code !== 'CONNECTION_CLOSED') {
        this.errors.push(code);
        return;
      }
      throw err;
    }
    try {
      const reply = await peer.request({
        kind: 'updateCommit',
        body: {
          roundId: round,
          transferId: t.manifest.transferId,
          numExamples: this.options.weight ?? this.options.index + 1,
          weight: this.options.weight ?? this.options.index + 1,
          trainMetrics: { roundId: round, trainLoss: 1 + this.options.index },
        },
      });
      if (reply.message.kind === 'updateReceipt' && !this.receipts.includes(round)) this.receipts.push(round);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code) this.errors.push(code);
      if (code === 'STORAGE_UNAVAILABLE') {
        // As the real client does: back off, then upload the same update again under a new transfer id.
        await new Promise((r) => setTimeout(r, this.options.retryMs ?? 100));
        const again = OutgoingTransfer.fromHostTensors(
          `${t.manifest.transferId}-again${this.errors.length}`,
          nullUpdate(this.globals.get(round)!, this.options.index, round),
          { chunkBytes: this.options.chunkBytes ?? 64 * 1024 },
        );
        this.uploads.set(round, again);
        await this.finishUpload(peer, round, again, undefined);
      }
    }
  }
}
