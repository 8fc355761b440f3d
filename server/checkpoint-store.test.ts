import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointStore } from './checkpoint-store.ts';
import { RoundJournal } from './round-journal.ts';

const base = {
  runId: 'r',
  seed: 3,
  method: 'pica',
  model: 'test-gpt',
  linkSchedule: null,
  sessions: [{ id: 's-1', tokenDigest: 'ab', joinTokenDigest: 'cd', clientName: 'a', lastCommittedRound: 2 }],
  signatureReference: [0.5, -1],
  rng: { seed: 3 },
};

describe('CheckpointStore and RoundJournal', () => {
  it('round-trips state, global and nested strategy state, keeping only the newest checkpoints', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedpeft-ckpt-'));
    try {
      const store = new CheckpointStore(dir, 2);
      expect(await store.loadLatest()).toBeNull();
      for (let round = 1; round <= 3; round++) {
        await store.save(
          { ...base, round },
          new Map([['B', { shape: [2], data: Float32Array.from([round, -round]) }]]),
          {
            strategy: 'dp',
            tensors: new Map(),
            values: { sigma: 0.5 },
            inner: {
              strategy: 'fedadam',
              tensors: new Map([['m.B', { shape: [2], data: Float32Array.from([1, 2]) }]]),
              values: { t: round },
            },
          },
        );
      }
      const ck = (await store.loadLatest())!;
      expect(ck.state.round).toBe(3);
      expect(Array.from(ck.global.get('B')!.data)).toEqual([3, -3]);
      expect(ck.strategyState.inner?.values.t).toBe(3);
      expect(Array.from(ck.strategyState.inner!.tensors.get('m.B')!.data)).toEqual([1, 2]);
      expect(ck.state.sessions[0]!.lastCommittedRound).toBe(2);
      expect((await readdir(store.dir)).filter((e) => e.startsWith('round-')).sort()).toEqual([
        'round-000002',
        'round-000003',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('journals updates durably in order and clears them once checkpointed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedpeft-journal-'));
    try {
      const journal = new RoundJournal(dir);
      for (const [i, id] of ['s-a', 's-b'].entries()) {
        await journal.append({
          round: 4,
          sessionId: id,
          transferId: `t${i}`,
          weight: i + 1,
          numExamples: i + 1,
          trainedExtents: i ? { B: 2 } : {},
          trainLoss: 1.5,
          globalValLoss: null,
          personalValLoss: null,
          tensors: new Map([['B', { shape: [3], data: Float32Array.from([i, i, i]) }]]),
        });
      }
      const read = await new RoundJournal(dir).read(4);
      expect(read.map((e) => [e.sessionId, e.weight, e.trainedExtents])).toEqual([
        ['s-a', 1, {}],
        ['s-b', 2, { B: 2 }],
      ]);
      expect(Array.from(read[1]!.tensors.get('B')!.data)).toEqual([1, 1, 1]);
      await journal.clearThrough(4);
      expect(await journal.read(4)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
