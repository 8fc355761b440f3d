/**
 * The coordinator on a failing disk (server/durability/faulty-storage-fs.ts under its journal and checkpoints):
 * a disk that fills up or turns read-only while round 2's updates are journaled refuses those updates with
 * STORAGE_UNAVAILABLE, logs the real cause once, shows it on /status, and does not close the round on them;
 * a checkpoint write that hits a full disk is retried until space returns. Either way, once the disk heals,
 * the clients' retries go through and the run ends in the same state as an uninterrupted run — no
 * acknowledged update lost, no refused update in the aggregate.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CoordinatorConfigInput } from '../../server/config.ts';
import { FaultyStorageFs } from '../../server/durability/faulty-storage-fs.ts';
import { connectInProcess } from '../../server/transport/in-process.ts';
import { maxAbsDiff, startCoordinator, TOKEN, waitFor, type Started } from './coordinator-fixture.ts';
import { NullClient } from './null-client.ts';

const CONFIG: CoordinatorConfigInput = {
  run: { seed: 7, rounds: 3 },
  strategy: { name: 'fedavg', sampling: { minClients: 3 } },
  round: { deadlineMs: 60_000, dropAfterMs: 60_000 },
};

const started: Started[] = [];
const clients: NullClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.stop();
  for (const s of started.splice(0)) await s.close();
});

async function run(
  storageFs: FaultyStorageFs | undefined,
  trainMs: (index: number) => (round: number) => number = () => () => 0,
): Promise<Started> {
  const s = await startCoordinator(CONFIG, { socket: false, ...(storageFs ? { storageFs } : {}) });
  started.push(s);
  for (let i = 0; i < 3; i++) {
    const c = new NullClient({
      name: `c${i}`,
      index: i,
      token: TOKEN,
      method: 'pica',
      signature: s.method.signature,
      connectLink: () => connectInProcess(s.coordinator),
      retryMs: 50,
      trainMs: trainMs(i),
    });
    clients.push(c);
    await c.connect();
  }
  s.coordinator.start();
  return s;
}

async function referenceRun(): Promise<Map<string, { data: Float32Array }>> {
  const s = await run(undefined);
  await s.coordinator.whenFinished();
  const out = new Map(s.coordinator.globalState());
  for (const c of clients.splice(0)) c.stop();
  await started.pop()!.close();
  return out;
}

describe('coordinator on a failing disk', () => {
  it.each([
    ['the disk fills up', (fs: FaultyStorageFs) => fs.fillUp(100), 'ENOSPC'],
    ['the disk turns read-only', (fs: FaultyStorageFs) => fs.readOnly(), 'EROFS'],
  ])(
    '%s while round 2 is journaled: refused, logged once, then the same final state',
    async (_n, fault, osCode) => {
      const reference = await referenceRun();
      const fs = new FaultyStorageFs();
      // Clients 1 and 2 report late in round 2, so the fault lands between acknowledged and refused updates.
      const s = await run(fs, (i) => (round) => (round === 2 && i > 0 ? 300 : 0));
      await waitFor(() => clients[0]!.receipts.includes(2), 30_000, "client 0's round-2 receipt");
      fault(fs);
      await waitFor(
        () => clients.slice(1).every((c) => c.errors.filter((e) => e === 'STORAGE_UNAVAILABLE').length >= 2),
        30_000,
        'clients 1 and 2 to be refused twice each',
      );
      expect(fs.faultsHit).toBeGreaterThan(0);
      expect(clients[1]!.receipts).not.toContain(2);
      expect(s.coordinator.completedRounds).toBe(1);
      const status = s.coordinator.status();
      expect(status.storage).toMatchObject({ ok: false, failure: { osCode } });
      const failed = s.logger.records.filter((r) => r.event === 'storage-failed');
      expect(failed).toHaveLength(1);
      expect(String(failed[0]!.message)).toContain(osCode);
      fs.heal();
      await s.coordinator.whenFinished();
      expect(s.coordinator.status().storage.ok).toBe(true);
      expect(s.logger.records.filter((r) => r.event === 'storage-recovered').length).toBeGreaterThan(0);
      // Nothing but storage codes was refused (a refused update left in the aggregate would come back as a
      // DUPLICATE_CLIENT refusal of the retry), and the result is the uninterrupted run's.
      expect(clients.flatMap((c) => c.errors).filter((e) => e !== 'STORAGE_UNAVAILABLE')).toEqual([]);
      expect(maxAbsDiff(s.coordinator.globalState(), reference)).toBeLessThan(1e-6);
    },
  );

  it('a checkpoint write on a full disk is retried until space returns, and the run continues', async () => {
    const reference = await referenceRun();
    const fs = new FaultyStorageFs();
    fs.scope(/checkpoints/);
    fs.fillUp(0);
    const s = await run(fs);
    await waitFor(
      () => (s.coordinator.status().storage.failure?.failures ?? 0) >= 3,
      30_000,
      'three failed checkpoint writes',
    );
    // The round after the unwritten checkpoint has not started: nothing is acknowledged past it.
    expect(s.logger.records.some((r) => r.event === 'round-started' && r.round === 2)).toBe(false);
    expect(s.logger.records.filter((r) => r.event === 'storage-failed')).toHaveLength(1);
    expect(s.coordinator.status().storage.failure).toMatchObject({ osCode: 'ENOSPC' });
    fs.heal();
    await s.coordinator.whenFinished();
    expect(s.coordinator.completedRounds).toBe(3);
    expect(maxAbsDiff(s.coordinator.globalState(), reference)).toBeLessThan(1e-6);
  });
});
