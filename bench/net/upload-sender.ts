/**
 * The client side of the transport benchmark, in its own process: one socket.io-client connection (websocket
 * only, as fedpeft clients connect) to the benchmark's server, carrying both fedpeft's session layer (`Peer`
 * over `socketIoLink`) and two raw binary events. On each `bench:run` command from the server it uploads the
 * same bytes one way:
 *
 * - `pb`: a chunked protobuf transfer (`OutgoingTransfer` with its CRCs, `Peer.sendTransfer` with per-chunk
 *   acks and the default window of 8 chunks in flight), exactly as a client uploads an update;
 * - `raw-ack`: the same bytes as raw socket.io binary messages of the same chunk size, each acknowledged by a
 *   socket.io ack callback, with the same window of 8 unacknowledged chunks;
 * - `raw-noack`: the same raw messages, all emitted at once, no acks.
 *
 * Usage: node --import tsx bench/net/upload-sender.ts '{"url": "...", "megabytes": 64, "tensors": 16}'
 */
import { io } from 'socket.io-client';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { Rng } from '../../shared/tensor/rng.ts';
import { OutgoingTransfer } from '../../shared/wire/chunking.ts';
import { Peer } from '../../shared/wire/peer.ts';
import { socketIoLink } from '../../shared/wire/socket-io-link.ts';
import { nativeBufferutilInUse } from './bufferutil-check.ts';
import { reportFatal, tell } from './child-process.ts';
import { RAW_EVENT, RUN_EVENT, type RunCommand, type UploadSenderOptions } from './upload-protocol.ts';

function seededUpdate(options: UploadSenderOptions): HostTensorMap {
  const rng = new Rng(11).fork('transport-upload');
  const values = (options.megabytes * 2 ** 20) / 4 / options.tensors;
  const update: HostTensorMap = new Map();
  for (let k = 0; k < options.tensors; k++) {
    update.set(`layers.${k}.B`, { shape: [values / 1024, 1024], data: rng.normalArray(values, 0.02) });
  }
  return update;
}

/** Byte views of the update, `chunkBytes` each (tensor sizes are multiples of it: the transfer's own cut). */
function rawChunks(update: HostTensorMap, chunkBytes: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const t of update.values()) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    for (let at = 0; at < bytes.length; at += chunkBytes) out.push(bytes.subarray(at, at + chunkBytes));
  }
  return out;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as UploadSenderOptions;
  const update = seededUpdate(options);
  const socket = io(options.url, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => reject(err));
  });
  const peer = new Peer({ side: 'client', link: socketIoLink(socket, 'bench-sender') });
  const sendRaw = (chunks: Uint8Array[], window: number, ack: boolean) =>
    new Promise<void>((resolve) => {
      if (!ack) {
        for (const c of chunks) socket.emit(RAW_EVENT, c);
        resolve();
        return;
      }
      let next = 0;
      let inFlight = 0;
      const pump = () => {
        while (inFlight < window && next < chunks.length) {
          inFlight++;
          socket.emit(RAW_EVENT, chunks[next++], () => {
            inFlight--;
            if (next === chunks.length && inFlight === 0) resolve();
            else pump();
          });
        }
      };
      pump();
    });
  socket.on(RUN_EVENT, (command: RunCommand) => {
    const run = async () => {
      if (command.mode === 'pb') {
        // Building the transfer (the whole-stream CRC) is part of what an upload costs.
        const transfer = OutgoingTransfer.fromHostTensors(command.transferId, update, {
          chunkBytes: command.chunkBytes,
        });
        await peer.sendTransfer(transfer, { announce: true, window: command.window });
      } else {
        await sendRaw(rawChunks(update, command.chunkBytes), command.window, command.mode === 'raw-ack');
      }
    };
    run().catch(reportFatal);
  });
  tell({ type: 'ready', bufferutil: nativeBufferutilInUse('engine.io-client') });
  socket.on('disconnect', () => process.exit(0));
}

main().catch(reportFatal);
