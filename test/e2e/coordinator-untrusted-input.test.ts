/**
 * Every kind of bad input a coordinator can receive, table-driven over real socket.io: each gets an Error
 * with the right code, the coordinator keeps running, and the round's aggregate equals the mean of the honest
 * clients alone (nothing bad touched it).
 */
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fedpeft } from '../../proto/generated/fedpeft.js';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { OutgoingTransfer } from '../../shared/wire/chunking.ts';
import { encodeFrame, ErrorCode, type MessageInput } from '../../shared/wire/messages.ts';
import { Peer } from '../../shared/wire/peer.ts';
import { socketIoLink } from '../../shared/wire/socket-io-link.ts';
import { DType } from '../../shared/wire/tensor-codec.ts';
import { expectedMean, NullClient } from './null-client.ts';
import { maxAbsDiff, startCoordinator, TOKEN, waitFor, type Started } from './coordinator-fixture.ts';

let s: Started;
const honest: NullClient[] = [];

async function connect(): Promise<{ peer: Peer; errors: number[] }> {
  const socket = io(s.url, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const peer = new Peer({ side: 'client', link: socketIoLink(socket, 'attacker') });
  const errors: number[] = [];
  peer.onMessage((f) => {
    if (f.message.kind === 'error') errors.push(f.message.body.code);
  });
  return { peer, errors };
}

function joinBody(overrides: Partial<MessageInput<'join'>> = {}): MessageInput<'join'> {
  const sig = s.method.signature;
  return {
    clientName: 'attacker',
    authToken: TOKEN,
    capabilities: { supportedMethods: ['pica'] },
    signatures: [
      {
        method: 'pica',
        value: {
          spec: { name: 'sig', dtype: DType.FLOAT32, shape: [sig.length], byteLength: sig.byteLength },
          data: new Uint8Array(sig.buffer.slice(sig.byteOffset, sig.byteOffset + sig.byteLength)),
        },
      },
    ],
    ...overrides,
  };
}

async function joined(): Promise<{ peer: Peer; errors: number[] }> {
  const c = await connect();
  await c.peer.request({ kind: 'join', body: joinBody() });
  return c;
}

function codeOf(err: unknown): string {
  return (err as { code?: string }).code ?? String(err);
}

function shared(): HostTensorMap {
  const out: HostTensorMap = new Map();
  for (const [n, t] of s.method.initialShared)
    out.set(n, { shape: [...t.shape], data: t.data.map((_, i) => i * 1e-3) });
  return out;
}

let seq = 0;
async function uploadAndCommit(
  peer: Peer,
  tensors: OutgoingTransfer,
  round = 1,
  weight = 1,
): Promise<string> {
  try {
    // The manifest is checked at announcement (round, sampling, expected tensors): refused there, or at commit.
    await peer.sendTransfer(tensors, { announce: true, stallMs: 2_000 });
    await peer.request({
      kind: 'updateCommit',
      body: { roundId: round, transferId: tensors.manifest.transferId, weight, numExamples: weight },
    });
    return 'ACCEPTED';
  } catch (err) {
    return codeOf(err);
  }
}

const nextId = () => `bad-${++seq}`;
const errorAfter = async (errors: number[], before: number) => {
  await waitFor(() => errors.length > before, 5_000, 'an error frame');
  return ErrorCode[errors[before]!] ?? `code ${errors[before]}`;
};

let attacker: { peer: Peer; errors: number[] };

beforeAll(async () => {
  s = await startCoordinator({
    run: { rounds: 1 },
    round: { deadlineMs: 60_000, quorum: 0.66 },
    strategy: { name: 'fedavg', sampling: { minClients: 3 } },
    transport: { maxTransferBytes: 1024 * 1024 },
  });
  for (let i = 0; i < 2; i++) {
    // Honest clients take a while to "train", so the table runs while the round is open.
    const c = new NullClient({
      name: `h${i}`,
      index: i,
      token: TOKEN,
      method: 'pica',
      signature: s.method.signature,
      url: s.url,
      trainMs: () => 4_000,
    });
    honest.push(c);
    await c.connect();
  }
  attacker = await joined();
  s.coordinator.start();
  await waitFor(() => s.coordinator.status().activeRound !== null, 5_000, 'round 1');
});

afterAll(async () => {
  for (const c of honest) c.stop();
  await s.close();
});

describe('untrusted input', () => {
  const connectionCases: Array<[string, string, (c: { peer: Peer; errors: number[] }) => Promise<string>]> = [
    [
      'bad join token',
      'UNAUTHENTICATED',
      (c) =>
        c.peer
          .request({ kind: 'join', body: joinBody({ authToken: 'nope-nope-nope-nope' }) })
          .then(() => 'OK', codeOf),
    ],
    [
      'unknown session',
      'UNKNOWN_SESSION',
      (c) =>
        c.peer
          .request({ kind: 'join', body: joinBody({ resumeSessionId: 's-forged', resumeSessionToken: 'x' }) })
          .then(() => 'OK', codeOf),
    ],
    [
      'derived-state signature differs',
      'SIGNATURE_MISMATCH',
      (c) => {
        const bad = s.method.signature.map((v) => v + 0.5);
        const body = joinBody();
        body.signatures![0]!.value.data = new Uint8Array(bad.buffer);
        return c.peer.request({ kind: 'join', body }).then(() => 'OK', codeOf);
      },
    ],
    [
      'method not supported by the client',
      'CAPABILITY_MISMATCH',
      (c) =>
        c.peer
          .request({ kind: 'join', body: joinBody({ capabilities: { supportedMethods: ['lora'] } }) })
          .then(() => 'OK', codeOf),
    ],
    [
      'undecodable protobuf',
      'MALFORMED_MESSAGE',
      async (c) => {
        c.peer.link.send(new Uint8Array([0x08, 0x01, 0x52, 0x05, 0x01])); // version 1, then a join cut short
        return errorAfter(c.errors, 0);
      },
    ],
    [
      'unsupported protocol version',
      'UNSUPPORTED_VERSION',
      async (c) => {
        c.peer.link.send(fedpeft.v1.Envelope.encode({ protocolVersion: 9, heartbeat: {} }).finish());
        return errorAfter(c.errors, 0);
      },
    ],
    [
      'a coordinator-only message from a client',
      'UNEXPECTED_MESSAGE',
      async (c) => {
        c.peer.link.send(encodeFrame({ message: { kind: 'welcome', body: { run: {}, limits: {} } } }));
        return errorAfter(c.errors, 0);
      },
    ],
    [
      'commit before join',
      'UNEXPECTED_MESSAGE',
      (c) =>
        c.peer
          .request({ kind: 'updateCommit', body: { roundId: 1, transferId: 'x', weight: 1 } })
          .then(() => 'OK', codeOf),
    ],
  ];
  it.each(connectionCases)('%s -> %s', async (_name, code, act) => {
    const c = await connect();
    expect(await act(c)).toBe(code);
    c.peer.close();
  });

  const sessionCases: Array<[string, string, () => Promise<string>]> = [
    [
      'update with a wrong shape',
      'SHAPE_MISMATCH',
      () => {
        const t = shared();
        const [name, first] = [...t][0]!;
        t.set(name, {
          shape: [first.shape[0]! + 1, first.shape[1]!],
          data: new Float32Array((first.shape[0]! + 1) * first.shape[1]!),
        });
        return uploadAndCommit(attacker.peer, OutgoingTransfer.fromHostTensors(nextId(), t));
      },
    ],
    [
      'update carrying a tensor outside the shared set',
      'SHAPE_MISMATCH',
      () => {
        const t = shared();
        t.set('layers.0.attn.q.U', { shape: [32, 4], data: new Float32Array(128) });
        return uploadAndCommit(attacker.peer, OutgoingTransfer.fromHostTensors(nextId(), t));
      },
    ],
    [
      'update with a missing tensor',
      'SHAPE_MISMATCH',
      () => {
        const t = shared();
        t.delete([...t.keys()][0]!);
        return uploadAndCommit(attacker.peer, OutgoingTransfer.fromHostTensors(nextId(), t));
      },
    ],
    [
      'update with an integer dtype',
      'INVALID_TENSOR',
      () => {
        const entries = [...shared()].map(
          ([n, t]) =>
            [n, { dtype: 'int32' as const, shape: t.shape, data: new Int32Array(t.data.length) }] as const,
        );
        return uploadAndCommit(attacker.peer, OutgoingTransfer.fromTensors(nextId(), entries));
      },
    ],
    [
      'update with NaN',
      'NON_FINITE',
      () => {
        const t = shared();
        [...t.values()][0]!.data[3] = NaN;
        return uploadAndCommit(attacker.peer, OutgoingTransfer.fromHostTensors(nextId(), t));
      },
    ],
    [
      'update with Infinity',
      'NON_FINITE',
      () => {
        const t = shared();
        [...t.values()][1]!.data[0] = -Infinity;
        return uploadAndCommit(attacker.peer, OutgoingTransfer.fromHostTensors(nextId(), t));
      },
    ],
    [
      'zero weight',
      'MALFORMED_MESSAGE',
      () => uploadAndCommit(attacker.peer, OutgoingTransfer.fromHostTensors(nextId(), shared()), 1, 0),
    ],
    [
      'stale round id',
      'STALE_ROUND',
      () => uploadAndCommit(attacker.peer, OutgoingTransfer.fromHostTensors(nextId(), shared()), 0),
    ],
    [
      'future round id',
      'FUTURE_ROUND',
      () => uploadAndCommit(attacker.peer, OutgoingTransfer.fromHostTensors(nextId(), shared()), 7),
    ],
    [
      'oversize transfer',
      'TRANSFER_TOO_LARGE',
      async () => {
        const big = OutgoingTransfer.fromHostTensors(
          nextId(),
          new Map([['x', { shape: [1 << 19], data: new Float32Array(1 << 19) }]]),
        );
        return attacker.peer.sendTransfer(big, { announce: true }).then(() => 'OK', codeOf);
      },
    ],
    [
      'commit of a transfer never announced',
      'TRANSFER_UNKNOWN',
      () =>
        attacker.peer
          .request({ kind: 'updateCommit', body: { roundId: 1, transferId: 'never-sent', weight: 1 } })
          .then(() => 'OK', codeOf),
    ],
    [
      'commit before the transfer is complete',
      'TRANSFER_INCOMPLETE',
      async () => {
        const t = OutgoingTransfer.fromHostTensors(nextId(), shared(), { chunkBytes: 128 });
        attacker.peer.send({ kind: 'transferManifest', body: t.manifest });
        attacker.peer.send({ kind: 'tensorChunk', body: t.chunk(0) });
        return attacker.peer
          .request({
            kind: 'updateCommit',
            body: { roundId: 1, transferId: t.manifest.transferId, weight: 1 },
          })
          .then(() => 'OK', codeOf);
      },
    ],
    [
      'replayed chunk',
      'CHUNK_DUPLICATE',
      async () => {
        const t = OutgoingTransfer.fromHostTensors(nextId(), shared(), { chunkBytes: 128 });
        await attacker.peer.sendTransfer(t, { announce: true });
        const before = attacker.errors.length;
        attacker.peer.send({ kind: 'tensorChunk', body: t.chunk(1) });
        return errorAfter(attacker.errors, before);
      },
    ],
    [
      'chunk with a corrupt checksum',
      'CHUNK_CHECKSUM',
      async () => {
        const t = OutgoingTransfer.fromHostTensors(nextId(), shared(), { chunkBytes: 128 });
        attacker.peer.send({ kind: 'transferManifest', body: t.manifest });
        const before = attacker.errors.length;
        const chunk = t.chunk(0);
        attacker.peer.send({ kind: 'tensorChunk', body: { ...chunk, crc32: (chunk.crc32 + 1) >>> 0 } });
        return errorAfter(attacker.errors, before);
      },
    ],
    [
      'chunk at a wrong offset',
      'CHUNK_OUT_OF_RANGE',
      async () => {
        const t = OutgoingTransfer.fromHostTensors(nextId(), shared(), { chunkBytes: 128 });
        attacker.peer.send({ kind: 'transferManifest', body: t.manifest });
        const before = attacker.errors.length;
        attacker.peer.send({ kind: 'tensorChunk', body: { ...t.chunk(1), byteOffset: 3 } });
        return errorAfter(attacker.errors, before);
      },
    ],
    [
      'client not sampled for the round',
      'NOT_SELECTED',
      async () => {
        const late = await joined();
        const r = await uploadAndCommit(late.peer, OutgoingTransfer.fromHostTensors(nextId(), shared()));
        late.peer.close();
        return r;
      },
    ],
  ];
  it.each(sessionCases)('%s -> %s', async (_name, code, act) => {
    expect(await act()).toBe(code);
    expect(s.coordinator.status().activeRound?.committed).toBe(0);
  });

  it('kept running, logged each rejection on one line, and aggregated only the honest updates', async () => {
    await s.coordinator.whenFinished();
    expect(s.coordinator.status().lastRound).toMatchObject({ participants: 2, dropped: 1, aggregated: true });
    const want = expectedMean(s.method.initialShared, 1, [
      { index: 0, weight: 1 },
      { index: 1, weight: 2 },
    ]);
    expect(maxAbsDiff(s.coordinator.globalState(), want)).toBeLessThan(1e-6);
    const rejected = s.logger.records.filter((r) => r.event === 'update-rejected').map((r) => r.code);
    // Manifests are checked at announcement: wrong tensors and unsampled clients never reach a commit.
    const refusedUploads = s.logger.records
      .filter((r) => r.event === 'protocol-error' && r.direction === 'sent')
      .map((r) => r.code);
    expect(refusedUploads).toEqual(
      expect.arrayContaining(['SHAPE_MISMATCH', 'INVALID_TENSOR', 'NOT_SELECTED']),
    );
    expect(new Set(rejected)).toEqual(
      new Set([
        'NON_FINITE',
        'MALFORMED_MESSAGE',
        'STALE_ROUND',
        'FUTURE_ROUND',
        'TRANSFER_UNKNOWN',
        'TRANSFER_INCOMPLETE',
      ]),
    );
    expect(s.logger.records.some((r) => r.event === 'join-refused' && r.code === 'SIGNATURE_MISMATCH')).toBe(
      true,
    );
  });
});
