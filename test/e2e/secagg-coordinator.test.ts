/**
 * Secure aggregation wired end to end: the coordinator routes the four secagg phases of real `ClientRuntime`s
 * (in process, every record an encoded frame, masked inputs as chunked transfers) and aggregates PiCa rounds
 * it never sees in the clear.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { HeldVector } from '../../shared/privacy/secagg/server.ts';
import { chooseRing } from '../../shared/privacy/secagg/fixed-point-ring.ts';
import { flattenUpdate, layoutOf } from '../../shared/privacy/update-vector.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { decodeFrame } from '../../shared/wire/messages.ts';
import type { CoordinatorConfigInput } from '../../server/config.ts';
import type { RoundSummary } from '../../server/metrics-log.ts';
import { startCoordinator, type Started } from './coordinator-fixture.ts';
import { inProcessClient, type InProcessClient } from './in-process-clients.ts';

const RUN = { model: 'test-gpt', method: 'pica', methodConfig: { r: 4, roles: ['q', 'v'] }, seed: 7 };

let started: Started | undefined;
let clients: InProcessClient[] = [];
afterEach(async () => {
  for (const c of clients) c.runtime.stop('test over');
  await started?.close();
  for (const c of clients) c.runtime.dispose();
  started = undefined;
  clients = [];
});

async function secureRun(
  privacy: CoordinatorConfigInput['privacy'],
  n: number,
  inspect?: (frame: Uint8Array | ArrayBuffer, client: InProcessClient) => boolean,
  dropIndex = -1,
) {
  const held: HeldVector[] = [];
  started = await startCoordinator(
    {
      run: { rounds: 1 },
      strategy: { name: 'fedavg', sampling: { minClients: n } },
      round: { localSteps: 2, batchSize: 2, learningRate: 2e-2, dropAfterMs: 10_000 },
      privacy,
    },
    { socket: false, onSecAggVectorHeld: (h) => held.push({ ...h, values: h.values.slice() }) },
  );
  const { coordinator } = started;
  const start = new Map(
    [...coordinator.globalState()].map(([k, t]) => [k, { shape: t.shape, data: t.data.slice() }]),
  );
  const summaries: RoundSummary[] = [];
  coordinator.onRound((s) => summaries.push(s));
  coordinator.start();
  clients = Array.from({ length: n }, (_, i) =>
    inProcessClient(coordinator, i, { run: RUN, ...(i === dropIndex && inspect ? { inspect } : {}) }),
  );
  await Promise.all(clients.map((c) => c.runtime.run()));
  await coordinator.whenFinished();
  return { held, start, summaries, global: coordinator.globalState() };
}

/** start + the unweighted mean of the clients' masked deltas (secure aggregation counts each client once). */
function plaintextMean(start: HostTensorMap, deltas: HostTensorMap[]): HostTensorMap {
  return new Map(
    [...start].map(([name, t]) => [
      name,
      {
        shape: t.shape,
        data: t.data.map((v, i) => v + deltas.reduce((s, d) => s + d.get(name)!.data[i]!, 0) / deltas.length),
      },
    ]),
  );
}

describe('secure aggregation through the coordinator round flow', () => {
  it('aggregates a PiCa round as the plaintext mean within the fixed-point error; the coordinator never holds one update', async () => {
    const { held, start, summaries, global } = await secureRun(
      { secureAggregation: { phaseTimeoutMs: 5_000 } },
      3,
    );
    expect(summaries).toHaveLength(1);
    const s = summaries[0]!;
    expect(s.aggregated).toBe(true);
    expect(s.strategy.secaggIncluded).toBe(3);
    const deltas = clients.map((c) => c.commits.get(1)!.secureDelta!);
    const expected = plaintextMean(start, deltas);
    const bound = s.strategy.secaggQuantizationErrorBound!;
    let worst = 0;
    for (const [name, t] of global)
      t.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - expected.get(name)!.data[i]!))));
    expect(worst).toBeLessThan(bound / 3 + 1e-6);
    // The update moved (a zero delta would make the comparison vacuous).
    expect(
      Math.max(...deltas.flatMap((d) => [...d.values()].map((t) => Math.max(...t.data.map(Math.abs))))),
    ).toBeGreaterThan(1e-4);
    // Audit: no vector the coordinator held, except the final sum, resembles any client's encoded update.
    const ring = chooseRing({ clipRange: 8, fractionalBits: 16, clients: 3 });
    const layout = layoutOf(start);
    const plaintexts = deltas.map((d) => ring.encode([...flattenUpdate(d, layout), 1]).vector);
    const agreement = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      let same = 0;
      for (let i = 0; i < b.length; i++) if (a[i] === b[i]) same++;
      return same / b.length;
    };
    const individual = held.filter((h) => h.kind !== 'sum');
    expect(individual.length).toBeGreaterThanOrEqual(3);
    for (const h of individual) for (const p of plaintexts) expect(agreement(h.values, p)).toBeLessThan(0.05);
    expect(agreement(plaintexts[0]!, plaintexts[0]!)).toBe(1); // the check can fail
    expect(held.filter((h) => h.kind === 'sum')).toHaveLength(1);
    // Nothing individual was journaled either.
    const journal = join(started!.dir, 'journal');
    const files = await readdir(journal, { recursive: true }).catch(() => [] as string[]);
    expect(files.filter((f) => String(f).endsWith('.safetensors'))).toEqual([]);
  });

  it('completes the round when a client drops after sending its masked input (its self mask is rebuilt)', async () => {
    const { start, summaries, global } = await secureRun(
      { secureAggregation: { phaseTimeoutMs: 3_000 } },
      3,
      (frame, client) => {
        if (decodeFrame(frame, { from: 'coordinator' }).message.kind !== 'secaggUnmaskRequest') return true;
        client.runtime.stop('test: dropped after its masked input');
        return false;
      },
      2,
    );
    const s = summaries[0]!;
    expect(s.aggregated).toBe(true);
    expect(s.strategy.secaggIncluded).toBe(3);
    expect(s.strategy.secaggUnresponsive).toBe(1);
    const expected = plaintextMean(
      start,
      clients.map((c) => c.commits.get(1)!.secureDelta!),
    );
    const bound = s.strategy.secaggQuantizationErrorBound!;
    for (const [name, t] of global)
      t.data.forEach((v, i) =>
        expect(Math.abs(v - expected.get(name)!.data[i]!)).toBeLessThan(bound / 3 + 1e-6),
      );
  });

  it('runs with distributed DP: clients clip and noise before masking, the round reports epsilon', async () => {
    const { summaries } = await secureRun(
      {
        dp: { placement: 'distributed', clipNorm: 0.5, noiseMultiplier: 0.5, noiseSource: 'seeded' },
        secureAggregation: { phaseTimeoutMs: 5_000 },
      },
      3,
    );
    const s = summaries[0]!;
    expect(s.aggregated).toBe(true);
    expect(s.strategy.dpEpsilon).toBeGreaterThan(0);
    expect(Number.isFinite(s.strategy.dpEpsilon)).toBe(true);
    for (const c of clients) {
      const delta = c.commits.get(1)!.secureDelta!;
      // Each client clipped to C = 0.5 and added N(0, (zC)^2 / t) noise: the delta is not the raw update.
      const raw = c.commits.get(1)!.update!;
      let diff = 0;
      for (const [name, t] of raw.shared)
        t.data.forEach(
          (v, i) =>
            (diff = Math.max(diff, Math.abs(v - raw.start.get(name)!.data[i]! - delta.get(name)!.data[i]!))),
        );
      expect(diff).toBeGreaterThan(1e-4);
    }
  });
});
