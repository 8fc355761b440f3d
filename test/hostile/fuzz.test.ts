/**
 * Property-based (fast-check): random frames — arbitrary bytes, non-binary values, and random sequences of
 * valid-but-wrong messages — from fresh and joined connections, thrown at a live coordinator over real
 * sockets for a bounded time (interruptAfterTimeLimit). After every sequence the coordinator must still
 * serve a new connection and have counted nothing; afterwards the round completes with the honest clients
 * and its aggregate is exactly their weighted mean (no crash, no stall, no aggregate change).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fedpeft } from '../../proto/generated/fedpeft.js';
import { WIRE_EVENT } from '../../shared/wire/messages.ts';
import { maxAbsDiff } from '../e2e/coordinator-fixture.ts';
import { expectedMean } from '../e2e/null-client.ts';
import { startHarness, waitFor, type Harness } from './hostile-fixture.ts';

const TIME_LIMIT_MS = 10_000;

let h: Harness;

const transferId = fc.oneof(
  fc.constantFrom('global-r1', 'fold-0', 'u-honest-0-r1'),
  fc.stringMatching(/^[A-Za-z0-9._:-]{1,20}$/),
);
const u32 = fc.integer({ min: 0, max: 0xffffffff });

/** Envelope fields a client may send, filled with random (often wrong, but encodable) values. */
const clientBody = fc.oneof(
  fc.record({
    updateCommit: fc.record({
      roundId: fc.integer({ min: 0, max: 4 }),
      transferId,
      weight: fc.double(),
      numExamples: fc.integer({ min: 0, max: 1e9 }),
    }),
  }),
  fc.record({
    transferManifest: fc.record({
      transferId,
      totalBytes: fc.integer({ min: 0, max: 2 ** 40 }),
      chunkBytes: u32,
      chunkCount: u32,
      crc32: u32,
      tensors: fc.array(
        fc.record({
          name: fc.string({ maxLength: 40 }),
          dtype: fc.integer({ min: 0, max: 9 }),
          shape: fc.array(u32, { maxLength: 4 }),
          byteLength: u32,
        }),
        { maxLength: 3 },
      ),
    }),
  }),
  fc.record({
    tensorChunk: fc.record({
      transferId,
      tensorIndex: u32,
      chunkIndex: u32,
      chunkCount: u32,
      byteOffset: u32,
      data: fc.uint8Array({ maxLength: 256 }),
      crc32: u32,
    }),
  }),
  fc.record({
    chunkAck: fc.record({
      transferId,
      contiguousCount: u32,
      receivedAfter: fc.array(u32, { maxLength: 5 }),
      complete: fc.boolean(),
    }),
  }),
  fc.record({ transferCancel: fc.record({ transferId, reason: fc.string({ maxLength: 20 }) }) }),
  fc.record({ foldRequest: fc.record({ fromIndex: u32, toIndex: u32 }) }),
  fc.record({ metrics: fc.record({ roundId: u32, globalValLoss: fc.double() }) }),
  fc.record({ heartbeat: fc.record({ sentUnixMs: u32, echoUnixMs: u32 }) }),
  fc.record({ goodbye: fc.record({ reason: fc.string({ maxLength: 20 }) }) }),
  fc.record({
    join: fc.record({
      clientName: fc.string({ maxLength: 20 }),
      authToken: fc.string({ maxLength: 30 }),
      resumeSessionId: fc.string({ maxLength: 10 }),
    }),
  }),
  fc.record({ secaggMaskedInput: fc.record({ roundId: u32, transferId }) }),
);

const frame = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.tuple(u32, clientBody).map(([requestId, body]) => ({
      bytes: fedpeft.v1.Envelope.encode({ protocolVersion: 1, requestId, ...body }).finish(),
    })),
  },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 512 }).map((bytes) => ({ bytes })) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(fc.string({ maxLength: 50 }), fc.constant(null), fc.integer(), fc.object({ maxDepth: 2 }))
      .map((value) => ({ value })),
  },
);

const sequence = fc.record({
  joined: fc.boolean(),
  frames: fc.array(frame, { minLength: 1, maxLength: 25 }),
});

beforeAll(async () => {
  h = await startHarness({
    run: { rounds: 1 },
    round: { deadlineMs: 600_000, quorum: 1, dropAfterMs: 600_000 },
    strategy: { name: 'fedavg', sampling: { minClients: 2 } },
  });
  h.s.coordinator.start();
  await waitFor(() => h.s.coordinator.status().activeRound?.sampled === 2, 5_000, 'round 1');
}, 30_000);

afterAll(async () => {
  await h?.close();
});

describe('fuzzing a live coordinator', () => {
  it(
    'random frames and wrong message sequences: no crash, no stall, nothing counted',
    async () => {
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(sequence, async ({ joined, frames }) => {
          runs++;
          const c = joined ? await h.joined() : await h.connect();
          for (const f of frames) c.socket.emit(WIRE_EVENT, 'bytes' in f ? f.bytes : f.value);
          await new Promise((r) => setTimeout(r, 20));
          c.peer.close();
          await h.probe();
          const status = h.s.coordinator.status();
          expect(status.activeRound?.id).toBe(1);
          expect(status.activeRound?.committed).toBe(0);
        }),
        { interruptAfterTimeLimit: TIME_LIMIT_MS, numRuns: 100_000, seed: 13 },
      );
      expect(runs).toBeGreaterThan(20);
      h.gates.open(1);
      await h.s.coordinator.whenFinished();
      expect(h.s.coordinator.status().lastRound).toMatchObject({ participants: 2, aggregated: true });
      const want = expectedMean(h.s.method.initialShared, 1, [
        { index: 0, weight: 1 },
        { index: 1, weight: 2 },
      ]);
      expect(maxAbsDiff(h.s.coordinator.globalState(), want)).toBeLessThan(1e-6);
    },
    TIME_LIMIT_MS + 30_000,
  );
});
