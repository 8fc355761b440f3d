/**
 * Upload throughput over a real socket.io connection on loopback: fedpeft's chunked protobuf transfer against
 * raw socket.io binary messages carrying the same bytes in chunks of the same size.
 *
 * The receiving side runs here, behind a socket.io server configured as the coordinator's
 * (`server/transport/socket-io-server.ts`: websocket transport only, `maxHttpBufferSize` = the protocol's frame
 * limit, no per-message deflate), with fedpeft's session layer on each connection (`Peer` over
 * `socketIoLink`, a `TransferInbox` that checks every chunk's CRC-32 and the whole stream's, and acks each
 * chunk). The sender is a separate process (`bench/net/upload-sender.ts`), as a client would be, so the two
 * sides use both cores like a real deployment on one machine. Each repetition uploads 64 MB of float32 (16
 * tensors of 4 MB, chunks of 512 KiB, the protocol's default) three ways, interleaved:
 *
 * - `transport.pb_chunked.mbps`: chunked protobuf transfer (building it, including the whole-stream CRC, is
 *   counted), window of 8 chunks in flight, from the command to the receiver holding the complete, verified
 *   transfer;
 * - `transport.raw_ack.mbps`: raw binary socket.io messages of the same size, one socket.io ack per chunk, the
 *   same window of 8 — the fair baseline; `ratio.transport.pb_vs_raw` = pb / raw_ack;
 * - `transport.raw_noack.mbps`: the raw messages emitted all at once without acks (the pipe's ceiling);
 *   `ratio.transport.pb_vs_raw_noack` = pb / raw_noack.
 *
 * `transport.bufferutil` is 1 when both processes' websocket engines really mask/unmask with the native
 * `bufferutil` (not just when the package is installed), else 0. MB = 10^6 bytes.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { MAX_FRAME_BYTES, DEFAULT_CHUNK_BYTES } from '../../shared/wire/limits.ts';
import { Peer } from '../../shared/wire/peer.ts';
import { socketIoLink } from '../../shared/wire/socket-io-link.ts';
import { TransferInbox } from '../../shared/wire/transfer-inbox.ts';
import { nativeBufferutilInUse } from '../net/bufferutil-check.ts';
import { BenchChild } from '../net/child-process.ts';
import { RAW_EVENT, RUN_EVENT, type RunCommand, type UploadSenderOptions } from '../net/upload-protocol.ts';
import { median } from '../harness/timing.ts';
import type { BenchSuite } from '../harness/types.ts';

const MEGABYTES = 64;
const TENSORS = 16;
const WINDOW = 8;
type Mode = RunCommand['mode'];
const MODES: readonly Mode[] = ['pb', 'raw-ack', 'raw-noack'];

interface Receiver {
  socket: Socket;
  peer: Peer;
  inbox: TransferInbox;
  rawBytes: number;
  onRaw: (() => void) | undefined;
  onComplete: ((transferId: string) => void) | undefined;
}

function attachReceiver(socket: Socket): Receiver {
  const inbox = new TransferInbox();
  const peer = new Peer({ side: 'coordinator', link: socketIoLink(socket, 'bench-receiver'), inbox });
  const receiver: Receiver = { socket, peer, inbox, rawBytes: 0, onRaw: undefined, onComplete: undefined };
  peer.onTransferComplete((id) => receiver.onComplete?.(id));
  socket.on(RAW_EVENT, (chunk: Buffer, ack?: (n: number) => void) => {
    receiver.rawBytes += chunk.length;
    ack?.(receiver.rawBytes);
    receiver.onRaw?.();
  });
  return receiver;
}

/** One upload of `bytes` in `mode`; resolves with its wall time (ms) as the receiver saw it. */
function upload(receiver: Receiver, mode: Mode, transferId: string, bytes: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} upload ${transferId} took over 60 s`)), 60_000);
    const done = (t0: number) => {
      clearTimeout(timer);
      receiver.onRaw = undefined;
      receiver.onComplete = undefined;
      resolve(performance.now() - t0);
    };
    receiver.rawBytes = 0;
    const command: RunCommand = { mode, transferId, chunkBytes: DEFAULT_CHUNK_BYTES, window: WINDOW };
    const t0 = performance.now();
    if (mode === 'pb') {
      receiver.onComplete = (id) => {
        if (id !== transferId) return;
        // The receiver holds the verified bytes; take them so the session's inbox frees the transfer.
        receiver.inbox.take(id);
        done(t0);
      };
    } else {
      receiver.onRaw = () => {
        if (receiver.rawBytes >= bytes) done(t0);
      };
    }
    receiver.socket.emit(RUN_EVENT, command);
  });
}

export const transportSuite: BenchSuite = {
  name: 'transport',
  description: 'chunked protobuf upload vs raw socket.io binary, 64 MB over loopback websocket',
  async run(ctx) {
    const http = createServer();
    const io = new Server(http, {
      maxHttpBufferSize: MAX_FRAME_BYTES,
      transports: ['websocket'],
      perMessageDeflate: false,
      serveClient: false,
    });
    const connected = new Promise<Receiver>((resolve) =>
      io.once('connection', (s) => resolve(attachReceiver(s))),
    );
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const senderOptions: UploadSenderOptions = { url, megabytes: MEGABYTES, tensors: TENSORS };
    const sender = new BenchChild('bench/net/upload-sender.ts', senderOptions, 'upload sender');
    try {
      const ready = await sender.next('ready', 60_000);
      const receiver = await connected;
      const serverNative = nativeBufferutilInUse('engine.io');
      const clientNative = ready.bufferutil === true;
      ctx.log(`native bufferutil in use: server ${serverNative}, client ${clientNative}`);
      const bytes = MEGABYTES * 2 ** 20;
      const samples: Record<Mode, number[]> = { pb: [], 'raw-ack': [], 'raw-noack': [] };
      const warmups = 1;
      const reps = ctx.quick ? 2 : 5;
      for (let rep = 0; rep < warmups + reps; rep++) {
        for (const mode of MODES) {
          const ms = await upload(receiver, mode, `bench-${mode}-${rep}`, bytes);
          if (rep >= warmups) samples[mode].push(ms);
        }
      }
      const mbps = (ms: number) => bytes / 1e6 / (ms / 1000);
      const pb = median(samples.pb);
      const rawAck = median(samples['raw-ack']);
      const rawNoAck = median(samples['raw-noack']);
      ctx.log(
        `${MEGABYTES} MiB in ${DEFAULT_CHUNK_BYTES / 1024} KiB chunks, median of ${reps}: ` +
          `pb ${pb.toFixed(0)} ms, raw+ack ${rawAck.toFixed(0)} ms, raw ${rawNoAck.toFixed(0)} ms`,
      );
      ctx.record('transport.bufferutil', serverNative && clientNative ? 1 : 0, 'bool');
      ctx.record('transport.pb_chunked.mbps', mbps(pb), 'MB/s');
      ctx.record('transport.raw_ack.mbps', mbps(rawAck), 'MB/s');
      ctx.record('transport.raw_noack.mbps', mbps(rawNoAck), 'MB/s');
      ctx.record('ratio.transport.pb_vs_raw', rawAck / pb, 'x');
      ctx.record('ratio.transport.pb_vs_raw_noack', rawNoAck / pb, 'x');
    } finally {
      // Closing the server disconnects the sender, which then exits by itself.
      await new Promise<void>((resolve) => void io.close(() => resolve()));
      await sender.stop(2000);
    }
  },
};
