/**
 * Records, on the coordinator's side, every frame its clients send: it wraps each accepted `FrameLink`,
 * decodes the client's frames independently of the coordinator, and keeps what a test needs to check the run
 * from the wire alone:
 *   - every tensor spec name in any client message (transfer manifests, join signatures, ...), so a test can
 *     prove nothing but the method's shared tensors left a client;
 *   - each upload reassembled from its chunks (`TransferReceiver`), and each commit with its weight, so a
 *     test can recompute every round's weighted mean from the bytes the clients actually sent;
 *   - every Join (client name, whether it asked to resume a session).
 */
import { TransferReceiver } from '../../shared/wire/chunking.ts';
import { decodeFrame, type MessageBody, type TransferManifest } from '../../shared/wire/messages.ts';
import type { FrameLink } from '../../shared/wire/frame-link.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';

export interface RecordedTensorName {
  client: string;
  message: string;
  name: string;
}

export interface RecordedCommit {
  client: string;
  roundId: number;
  transferId: string;
  weight: number;
  /** The upload as reassembled from the recorded chunks (null when it never completed on the wire). */
  shared: HostTensorMap | null;
}

export interface RecordedJoin {
  client: string;
  resumeSessionId: string;
  signatures: number;
}

/** Tensor specs anywhere in a decoded message: objects with a name, a shape and a byte length. */
function tensorSpecNames(value: unknown, out: string[]): void {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return;
  if (Array.isArray(value)) {
    for (const v of value) tensorSpecNames(v, out);
    return;
  }
  const o = value as Record<string, unknown>;
  if (typeof o.name === 'string' && Array.isArray(o.shape) && 'byteLength' in o) out.push(o.name);
  for (const v of Object.values(o)) tensorSpecNames(v, out);
}

export class FrameRecorder {
  readonly tensorNames: RecordedTensorName[] = [];
  readonly manifests: Array<{ client: string; manifest: TransferManifest }> = [];
  readonly commits: RecordedCommit[] = [];
  readonly joins: RecordedJoin[] = [];
  /** Frames the recorder could not decode (the coordinator refuses them too); a healthy run has none. */
  readonly undecodable: string[] = [];
  private readonly transfers = new Map<string, TransferReceiver>();

  /** Wraps a link the coordinator is about to accept. */
  wrap(link: FrameLink): FrameLink {
    let client = `unjoined:${link.label}`;
    return {
      get label() {
        return link.label;
      },
      get isOpen() {
        return link.isOpen;
      },
      send: (frame) => link.send(frame),
      onClose: (listener) => link.onClose(listener),
      close: (reason) => link.close(reason),
      onFrame: (listener) =>
        link.onFrame((frame) => {
          try {
            const { message } = decodeFrame(frame, { from: 'client' });
            if (message.kind === 'join') client = message.body.clientName;
            this.record(client, message.kind, message.body);
          } catch (err) {
            this.undecodable.push(`${client}: ${(err as Error).message}`);
          }
          listener(frame);
        }),
    };
  }

  private record(client: string, kind: string, body: unknown): void {
    const names: string[] = [];
    tensorSpecNames(body, names);
    for (const name of names) this.tensorNames.push({ client, message: kind, name });
    switch (kind) {
      case 'join': {
        const join = body as MessageBody<'join'>;
        this.joins.push({
          client,
          resumeSessionId: join.resumeSessionId,
          signatures: join.signatures.length,
        });
        return;
      }
      case 'transferManifest': {
        const manifest = body as TransferManifest;
        this.manifests.push({ client, manifest });
        // A resumed upload announces the same transfer again: keep the chunks already recorded.
        const key = `${client}/${manifest.transferId}`;
        if (!this.transfers.has(key)) this.transfers.set(key, new TransferReceiver(manifest));
        return;
      }
      case 'tensorChunk': {
        const chunk = body as MessageBody<'tensorChunk'>;
        const receiver = this.transfers.get(`${client}/${chunk.transferId}`);
        try {
          receiver?.accept(chunk);
        } catch {
          // a chunk re-sent after a reconnect (CHUNK_DUPLICATE): the first copy is kept
        }
        return;
      }
      case 'updateCommit': {
        const commit = body as MessageBody<'updateCommit'>;
        const receiver = this.transfers.get(`${client}/${commit.transferId}`);
        this.commits.push({
          client,
          roundId: commit.roundId,
          transferId: commit.transferId,
          weight: commit.weight,
          shared: receiver?.complete ? receiver.hostTensors() : null,
        });
        return;
      }
    }
  }
}
