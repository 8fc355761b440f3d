import { describe, expect, it } from 'vitest';
import { OutgoingTransfer } from './chunking.ts';
import { createLinkPair } from './in-memory-link.ts';
import { ErrorCode, type Frame } from './messages.ts';
import { Peer } from './peer.ts';
import { TransferInbox } from './transfer-inbox.ts';
import type { HostTensorMap } from '../tensor/host-tensor.ts';

function tensors(n: number): HostTensorMap {
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i);
  return new Map([['w', { shape: [n], data }]]);
}

function pair(inbox?: TransferInbox) {
  const { a, b } = createLinkPair();
  const client = new Peer({ side: 'client', link: a });
  const coordinator = new Peer({ side: 'coordinator', link: b, inbox });
  return { client, coordinator, a, b };
}

describe('Peer', () => {
  it('correlates a request with its reply and turns an error reply into a rejection', async () => {
    const { client, coordinator } = pair();
    coordinator.onMessage((frame: Frame, peer) => {
      if (frame.message.kind !== 'join') return;
      if (frame.message.body.authToken !== 'ok') throw Object.assign(new Error('x'), {});
      peer.send(
        {
          kind: 'welcome',
          body: { sessionId: 's1', run: {}, limits: {} },
        },
        { inReplyTo: frame.requestId },
      );
    });
    const reply = await client.request({ kind: 'join', body: { authToken: 'ok', capabilities: {} } });
    expect(reply.message.kind).toBe('welcome');
    await expect(
      client.request({ kind: 'join', body: { authToken: 'no', capabilities: {} } }),
    ).rejects.toMatchObject({
      code: 'INTERNAL',
    });
  });

  it('answers an undecodable frame with MALFORMED_MESSAGE and keeps working', async () => {
    const { a, coordinator, client } = pair();
    const errors: number[] = [];
    client.onMessage((f) => {
      if (f.message.kind === 'error') errors.push(f.message.body.code);
    });
    const seen: string[] = [];
    coordinator.onMessage((f) => void seen.push(f.message.kind));
    a.send(new Uint8Array([0xff, 0xff, 0xff, 0x01]));
    client.send({ kind: 'heartbeat', body: { sentUnixMs: 1 } });
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toContain('heartbeat');
    expect(coordinator.isOpen).toBe(true);
  });

  it('sends a multi-chunk transfer through a small window and the receiver reassembles it exactly', async () => {
    const inbox = new TransferInbox();
    const { client, coordinator } = pair(inbox);
    const done: string[] = [];
    coordinator.onTransferComplete((id) => done.push(id));
    const t = OutgoingTransfer.fromHostTensors('up-1', tensors(10_000), { chunkBytes: 1000 });
    let acks = 0;
    await client.sendTransfer(t, { announce: true, window: 3, onProgress: () => acks++ });
    expect(done).toEqual(['up-1']);
    expect(acks).toBeGreaterThanOrEqual(t.chunkCount);
    const got = inbox.take('up-1').hostTensors().get('w')!;
    expect(Array.from(got.data)).toEqual(Array.from(tensors(10_000).get('w')!.data));
  });

  it('resumes an interrupted upload from the acknowledged prefix on a new connection', async () => {
    const inbox = new TransferInbox();
    const first = pair(inbox);
    const t = OutgoingTransfer.fromHostTensors('up-2', tensors(20_000), { chunkBytes: 4000 });
    let cut = false;
    const sending = first.client.sendTransfer(t, {
      announce: true,
      window: 2,
      onProgress: (n) => {
        if (n >= 6 && !cut) {
          cut = true;
          first.a.close('network dropped');
        }
      },
    });
    await expect(sending).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
    const [ack] = inbox.pendingAcks();
    expect(ack!.contiguousCount).toBeGreaterThanOrEqual(6);
    expect(ack!.complete).toBe(false);
    const received = inbox.get('up-2')!.receivedBytes;

    const second = pair(inbox);
    let resent = 0;
    second.coordinator.onTransferComplete(() => undefined);
    const chunksSeen: number[] = [];
    second.b.onFrame(() => resent++);
    await second.client.sendTransfer(t, { announce: false, resumeFrom: ack!, window: 4 });
    chunksSeen.push(resent);
    // Only the missing chunks travelled again.
    expect(resent).toBeLessThanOrEqual(t.chunkCount - ack!.contiguousCount);
    expect(received).toBeGreaterThan(0);
    const got = inbox.take('up-2').hostTensors().get('w')!;
    expect(got.data[19_999]).toBeCloseTo(Math.sin(19_999), 5);
  });

  it('rejects a replayed chunk as CHUNK_DUPLICATE without changing the transfer', async () => {
    const inbox = new TransferInbox();
    const { client, coordinator } = pair(inbox);
    const codes: number[] = [];
    client.onMessage((f) => {
      if (f.message.kind === 'error') codes.push(f.message.body.code);
    });
    const t = OutgoingTransfer.fromHostTensors('up-3', tensors(1000), { chunkBytes: 1000 });
    await client.sendTransfer(t, { announce: true });
    const before = inbox.get('up-3')!.ack();
    client.send({ kind: 'tensorChunk', body: t.chunk(0) });
    await new Promise((r) => setTimeout(r, 20));
    expect(codes).toEqual([ErrorCode.CHUNK_DUPLICATE]);
    expect(inbox.get('up-3')!.ack()).toEqual(before);
    // Once the transfer is consumed its id is closed: a replay is TRANSFER_UNKNOWN.
    inbox.take('up-3');
    client.send({ kind: 'tensorChunk', body: t.chunk(0) });
    await new Promise((r) => setTimeout(r, 20));
    expect(codes).toEqual([ErrorCode.CHUNK_DUPLICATE, ErrorCode.TRANSFER_UNKNOWN]);
    expect(coordinator.isOpen).toBe(true);
  });

  it('closes a connection whose peer stays silent for three heartbeat intervals', async () => {
    const { coordinator } = pair();
    coordinator.startHeartbeat(10);
    await new Promise((r) => setTimeout(r, 80));
    expect(coordinator.isOpen).toBe(false);
  });
});
