/**
 * Central DP in the coordinator's round flow: the `privacy.dp` block wraps the configured strategy, every
 * round's metrics carry the accounted ε, and the run stops (finished, with a log line) at the ε budget.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { computeEpsilon } from '../../shared/privacy/rdp-accountant.ts';
import { NullClient } from './null-client.ts';
import { startCoordinator, TOKEN, type Started } from './coordinator-fixture.ts';

let started: Started | undefined;
const clients: NullClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.stop();
  await started?.close();
  started = undefined;
});

describe('coordinator with central DP', () => {
  it('reports ε every round and stops the run at the budget', async () => {
    const z = 2;
    const twoRounds = computeEpsilon({ samplingRate: 1, noiseMultiplier: z, steps: 2, delta: 1e-5 }).epsilon;
    started = await startCoordinator({
      run: { rounds: 5 },
      strategy: { name: 'fedavg', sampling: { minClients: 3 } },
      privacy: {
        dp: {
          noiseMultiplier: z,
          clipNorm: 0.1,
          epsilonBudget: twoRounds * 1.001,
          targetDelta: 1e-5,
          noiseSource: 'seeded',
        },
      },
    });
    const { coordinator, method, url } = started;
    for (let i = 0; i < 3; i++) {
      const c = new NullClient({
        name: `c${i}`,
        index: i,
        token: TOKEN,
        method: 'pica',
        signature: method.signature,
        url,
      });
      clients.push(c);
      await c.connect();
    }
    coordinator.start();
    await coordinator.whenFinished();
    expect(coordinator.status().phase).toBe('finished');
    expect(coordinator.completedRounds).toBe(2);
    const lines = (await readFile(join(started.dir, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { round: number; strategy: Record<string, number> });
    expect(lines).toHaveLength(2);
    lines.forEach((l, i) => {
      const reference = computeEpsilon({
        samplingRate: 1,
        noiseMultiplier: z,
        steps: i + 1,
        delta: 1e-5,
      }).epsilon;
      expect(l.strategy.dpEpsilon).toBeCloseTo(reference, 10);
      expect(l.strategy.dpNoiseStd).toBeCloseTo(z * 0.1, 12);
    });
    expect(started.logger.records.some((r) => r.event === 'privacy-budget-exhausted')).toBe(true);
  });

  it('refuses, at start and with the reason, secure aggregation of a method whose rule is not a sum', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedpeft-dp-'));
    try {
      await expect(
        startCoordinator(
          {
            method: { name: 'hetlora', config: { r: 4, roles: ['q', 'v'] } },
            privacy: { dp: { placement: 'distributed' }, secureAggregation: {} },
          },
          { dir },
        ),
      ).rejects.toThrow(/zero-pad-norm-weighted/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
