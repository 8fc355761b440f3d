/**
 * The same `ClientRuntime` over the coordinator's in-process transport (what the fleet simulator uses), with a
 * connection cut in the middle of an upload: the client reconnects with its session, resumes the upload from
 * the coordinator's acknowledged prefix within the same process, and the run completes with exact aggregates.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { tf } from '../../shared/tensor/tf.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { FrameLink } from '../../shared/wire/frame-link.ts';
import { connectInProcess } from '../../server/transport/in-process.ts';
import { ClientRuntime, type ClientLogger } from '../../client/runtime.ts';
import { MemoryStateStore } from '../../client/memory-state-store.ts';
import { LocalLmData } from '../../client/local-lm-data.ts';
import { ClientTrainer, runContextLength } from '../../client/trainer.ts';
import { syntheticDocuments } from './client-synthetic-data.ts';
import { maxAbsDiff, startCoordinator, TOKEN, type Started } from './coordinator-fixture.ts';

const RUN = { model: 'test-gpt', method: 'pica', methodConfig: { r: 4, roles: ['q', 'v'] }, seed: 7 };

let started: Started | undefined;
afterEach(async () => {
  await started?.close();
  started = undefined;
});

describe('client runtime over the in-process transport', () => {
  it('survives a connection cut mid-upload: reconnects, resumes from the acknowledged chunk, rounds stay exact', async () => {
    started = await startCoordinator(
      {
        run: { rounds: 2 },
        strategy: { name: 'fedavg', sampling: { minClients: 2 } },
        round: { localSteps: 2, batchSize: 2, learningRate: 1e-2, dropAfterMs: 10_000 },
        transport: { chunkBytes: 64, maxInFlightChunks: 1, heartbeatIntervalMs: 1_000 },
      },
      { socket: false },
    );
    const { coordinator } = started;
    const globals = new Map<number, HostTensorMap>();
    coordinator.onRound((s) =>
      globals.set(
        s.round,
        new Map(
          [...coordinator.globalState()].map(([n, t]) => [n, { shape: t.shape, data: t.data.slice() }]),
        ),
      ),
    );
    coordinator.start();
    const commits = new Map<number, Array<{ weight: number; shared: HostTensorMap }>>();
    const logs: Array<Record<string, unknown>> = [];
    let cut = false;
    const runtimes = [0, 1].map((i) => {
      let link: FrameLink | undefined;
      const logger: ClientLogger = {
        log: (level, event, fields) => logs.push({ client: i, level, event, ...fields }),
      };
      return new ClientRuntime({
        connector: {
          label: 'in-process',
          connect: () => Promise.resolve((link = connectInProcess(coordinator, `client-${i}`))),
        },
        authToken: TOKEN,
        clientName: `client-${i}`,
        store: new MemoryStateStore(),
        run: RUN,
        logger,
        backoff: { initialMs: 10, maxMs: 50 },
        createTrainer: (run) =>
          ClientTrainer.create({
            run,
            data: LocalLmData.fromDocuments(syntheticDocuments(20 + i), run.seed, `c${i}`, {
              contextLength: runContextLength(run),
              maxEvalWindows: 4,
            }),
            label: `client-${i}`,
          }),
        onUploadProgress: (acknowledged) => {
          if (i === 0 && !cut && acknowledged >= 3) {
            cut = true;
            link!.close('test: connection cut mid-upload');
          }
        },
        onRoundCommitted: (round, c) => {
          const list = commits.get(round) ?? [];
          list.push({ weight: c.weight, shared: c.shared });
          commits.set(round, list);
        },
      });
    });
    const outcomes = await Promise.all(runtimes.map((r) => r.run()));
    expect(outcomes.map((o) => o.committedRounds)).toEqual([
      [1, 2],
      [1, 2],
    ]);
    for (const round of [1, 2]) {
      const parts = commits.get(round)!;
      const total = parts.reduce((s, p) => s + p.weight, 0);
      const mean: HostTensorMap = new Map();
      for (const [name, t] of parts[0]!.shared) {
        const data = new Float32Array(t.data.length);
        for (let k = 0; k < data.length; k++) {
          let acc = 0;
          for (const p of parts) acc += (p.weight * p.shared.get(name)!.data[k]!) / total;
          data[k] = acc;
        }
        mean.set(name, { shape: t.shape, data });
      }
      expect(maxAbsDiff(globals.get(round)!, mean)).toBeLessThan(1e-6);
    }
    const mine = logs.filter((l) => l.client === 0);
    expect(mine.some((l) => l.event === 'upload-interrupted')).toBe(true);
    const starts = mine.filter((l) => l.event === 'upload-started' && l.round === 1);
    expect(starts.length).toBe(2);
    expect(starts[1]!.transfer).toBe(starts[0]!.transfer);
    expect(starts[1]!.resumedFrom as number).toBeGreaterThanOrEqual(3);
    const joins = mine.filter((l) => l.event === 'joined');
    expect(joins.map((l) => l.resumed)).toEqual([false, ...joins.slice(1).map(() => true)]);
    expect(new Set(joins.map((l) => l.session)).size).toBe(1);
    // Both trainers live in this process: after the run, disposing them frees every tensor they held.
    const before = tf.memory().numTensors;
    for (const r of runtimes) r.dispose();
    expect(tf.memory().numTensors).toBeLessThan(before);
  });
});
