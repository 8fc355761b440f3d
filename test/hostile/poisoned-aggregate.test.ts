/**
 * Finding 3 of issue 13 end to end, over real sockets: a sampled client commits `weight = 1e308` (the weight
 * used is capped by `limits.maxExampleWeight`, so the aggregate is the capped weighted mean and finite), and
 * a sampled client commits huge-but-finite values (the aggregate fails the change-norm check: the round is
 * rejected with AGGREGATE_REJECTED and the previous global state is kept).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { OutgoingTransfer } from '../../shared/wire/chunking.ts';
import { maxAbsDiff } from '../e2e/coordinator-fixture.ts';
import { expectedMean, nullUpdate } from '../e2e/null-client.ts';
import { codeOf, startHarness, waitFor, type Harness } from './hostile-fixture.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function roundWithAttacker(limits: Record<string, number>) {
  h = await startHarness({
    run: { rounds: 1 },
    round: { deadlineMs: 600_000, quorum: 1 },
    strategy: { name: 'fedavg', sampling: { minClients: 3 } },
    limits,
  });
  const attacker = await h.joined();
  h.s.coordinator.start();
  await waitFor(() => h!.s.coordinator.status().activeRound?.sampled === 3, 5_000, 'round 1');
  return attacker;
}

async function commitAs(
  peer: Awaited<ReturnType<typeof roundWithAttacker>>['peer'],
  t: OutgoingTransfer,
  weight: number,
  numExamples: number,
): Promise<string> {
  await peer.sendTransfer(t, { announce: true });
  return peer
    .request({
      kind: 'updateCommit',
      body: { roundId: 1, transferId: t.manifest.transferId, weight, numExamples },
    })
    .then(() => 'ACCEPTED', codeOf);
}

describe('poisoned aggregates', () => {
  it('weight 1e308 counts as limits.maxExampleWeight: the aggregate is the capped weighted mean', async () => {
    const cap = 10;
    const attacker = await roundWithAttacker({ maxExampleWeight: cap });
    const initial = h!.s.method.initialShared;
    const t = OutgoingTransfer.fromHostTensors('poison-weight', nullUpdate(initial, 2, 1));
    expect(await commitAs(attacker.peer, t, 1e308, 0)).toBe('ACCEPTED');
    h!.gates.open(1);
    await h!.s.coordinator.whenFinished();
    expect(h!.s.coordinator.status().lastRound).toMatchObject({ participants: 3, aggregated: true });
    const global = h!.s.coordinator.globalState();
    for (const [, tensor] of global) expect(tensor.data.every(Number.isFinite)).toBe(true);
    const want = expectedMean(initial, 1, [
      { index: 0, weight: 1 },
      { index: 1, weight: 2 },
      { index: 2, weight: cap },
    ]);
    expect(maxAbsDiff(global, want)).toBeLessThan(1e-6);
  }, 30_000);

  it('an aggregate moved beyond the change bound is rejected and the previous global kept', async () => {
    const attacker = await roundWithAttacker({ maxRelativeChange: 1, maxAbsoluteChange: 1 });
    const initial = h!.s.method.initialShared;
    const huge = new Map(
      [...initial].map(([n, x]) => [n, { shape: [...x.shape], data: x.data.map(() => 1e6) }]),
    );
    expect(await commitAs(attacker.peer, OutgoingTransfer.fromHostTensors('poison-values', huge), 1, 1)).toBe(
      'ACCEPTED',
    );
    h!.gates.open(1);
    await h!.s.coordinator.whenFinished();
    expect(h!.s.coordinator.status().lastRound).toMatchObject({ participants: 3, aggregated: false });
    expect(
      h!.s.logger.records.some((r) => r.event === 'aggregate-rejected' && r.code === 'AGGREGATE_REJECTED'),
    ).toBe(true);
    expect(maxAbsDiff(h!.s.coordinator.globalState(), initial)).toBe(0);
  }, 30_000);
});
