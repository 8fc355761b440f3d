/**
 * Many null-trainer clients in one process, for the coordinator scale benchmark: each is its own socket.io
 * connection (websocket, `forceNew`) with fedpeft's session layer (`Peer` + `TransferInbox`), joins with the
 * run's derived-state signature, keeps a heartbeat, and in every round downloads the global shared state and
 * at once uploads "global + a small per-client offset" as a chunked transfer, then commits it. No training:
 * what is measured is the coordinator's side of the round.
 *
 * Talks JSON lines with the benchmark (`child-process.ts`):
 *   -> { type: 'joined', clients, joinMs }     (all of this process's clients are in)
 *   -> { type: 'finished', commits, errors }   (the coordinator said goodbye: the run is over)
 *
 * Usage: node --import tsx bench/net/null-fleet-process.ts '{"url", "token", "signature", "first", "count"}'
 */
import { io, type Socket } from 'socket.io-client';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { OutgoingTransfer } from '../../shared/wire/chunking.ts';
import type { MessageBody } from '../../shared/wire/messages.ts';
import { Peer } from '../../shared/wire/peer.ts';
import { socketIoLink } from '../../shared/wire/socket-io-link.ts';
import { DType } from '../../shared/wire/tensor-codec.ts';
import { TransferInbox } from '../../shared/wire/transfer-inbox.ts';
import { reportFatal, tell } from './child-process.ts';

export interface NullFleetOptions {
  url: string;
  token: string;
  /** The run's derived-state signature (PiCa projectors), sent with every join. */
  signature: number[];
  /** Index of this process's first client (names and update offsets are per index). */
  first: number;
  count: number;
  /** Connections opened at once while joining (the listen backlog is finite). */
  connectConcurrency?: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as NullFleetOptions;
const signature = Float32Array.from(options.signature);
let commits = 0;
let finished = 0;
const errors = new Map<string, number>();

function countError(err: unknown): void {
  const code = (err as { code?: string }).code ?? (err as Error).message ?? String(err);
  errors.set(code, (errors.get(code) ?? 0) + 1);
}

function nullUpdate(global: HostTensorMap, index: number): HostTensorMap {
  const out: HostTensorMap = new Map();
  const offset = 1e-3 * (index + 1);
  for (const [name, t] of global) {
    out.set(name, { shape: [...t.shape], data: t.data.map((v) => v + offset) });
  }
  return out;
}

class FleetClient {
  private socket: Socket | undefined;
  private peer: Peer | undefined;
  private readonly inbox = new TransferInbox({ maxOpenTransfers: 8 });
  private readonly downloads = new Map<string, () => void>();
  private done = false;

  constructor(private readonly index: number) {}

  async join(): Promise<void> {
    const socket = io(options.url, { transports: ['websocket'], reconnection: false, forceNew: true });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (err) => reject(err));
    });
    const peer = new Peer({
      side: 'client',
      link: socketIoLink(socket, `fleet-${this.index}`),
      inbox: this.inbox,
    });
    this.peer = peer;
    peer.onTransferComplete((id) => this.downloads.get(id)?.());
    peer.onMessage((frame) => this.handle(peer, frame.message));
    peer.onClose(() => this.finish());
    const reply = await peer.request({
      kind: 'join',
      body: {
        clientName: `fleet-${this.index}`,
        authToken: options.token,
        capabilities: { backend: 'null', supportedMethods: ['pica'], numExamples: 1 + (this.index % 10) },
        signatures: [
          {
            method: 'pica',
            value: {
              spec: {
                name: 'signature',
                dtype: DType.FLOAT32,
                shape: [signature.length],
                byteLength: signature.byteLength,
              },
              data: new Uint8Array(signature.buffer, signature.byteOffset, signature.byteLength),
            },
          },
        ],
      },
    });
    if (reply.message.kind !== 'welcome') throw new Error(`expected welcome, got ${reply.message.kind}`);
    peer.startHeartbeat(reply.message.body.limits.heartbeatIntervalMs);
  }

  private handle(peer: Peer, message: { kind: string; body: unknown }): void {
    if (message.kind === 'goodbye') {
      this.finish();
      return;
    }
    if (message.kind === 'roundInstruction') {
      this.train(peer, message.body as MessageBody<'roundInstruction'>).catch(countError);
    }
  }

  private async train(peer: Peer, instruction: MessageBody<'roundInstruction'>): Promise<void> {
    const manifest = instruction.globalState;
    // Open the download before anything awaits: its chunks follow the instruction on the same connection.
    const downloaded = new Promise<void>((resolve) => this.downloads.set(manifest.transferId, resolve));
    const ack = peer.expectTransfer(manifest);
    if (!ack.complete) await downloaded;
    this.downloads.delete(manifest.transferId);
    const global = this.inbox.take(manifest.transferId).hostTensors();
    const transfer = OutgoingTransfer.fromHostTensors(
      `u-${this.index}-r${instruction.roundId}`,
      nullUpdate(global, this.index),
    );
    await peer.sendTransfer(transfer, { announce: true });
    const weight = 1 + (this.index % 10);
    await peer.request({
      kind: 'updateCommit',
      body: {
        roundId: instruction.roundId,
        transferId: transfer.manifest.transferId,
        numExamples: weight,
        weight,
      },
    });
    commits++;
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.peer?.close('run over');
    this.socket?.disconnect();
    if (++finished === options.count) {
      tell({ type: 'finished', commits, errors: Object.fromEntries(errors) });
      setTimeout(() => process.exit(0), 50);
    }
  }
}

async function main(): Promise<void> {
  const clients = Array.from({ length: options.count }, (_, i) => new FleetClient(options.first + i));
  const t0 = performance.now();
  const concurrency = options.connectConcurrency ?? 50;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, clients.length) }, async () => {
      while (next < clients.length) await clients[next++]!.join();
    }),
  );
  tell({ type: 'joined', clients: clients.length, joinMs: performance.now() - t0 });
}

main().catch(reportFatal);
