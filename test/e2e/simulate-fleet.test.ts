/**
 * A 200-client fleet in-process with bounded memory: only a round's participants ever hold a model (the peak
 * number of live trainers is the round size, not the fleet size), clients between rounds are compact state
 * snapshots (only those that took part have one), and no tensor outlives the run.
 */
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../shared/tensor/backend.ts';
import { tf } from '../../shared/tensor/tf.ts';
import { simulate } from '../../simulations/simulate.ts';
import { ScenarioFleetRunner, type FleetRoundStats } from '../../simulations/runner/fleet-runner.ts';
import { tempDir, tinyScenario } from './simulate-fixtures.ts';

describe('fleet runner: a 200-client in-process fleet', () => {
  it('holds models only for the round participants', { timeout: 120_000 }, async () => {
    await useBackend('cpu');
    const scenario = tinyScenario({
      name: 'fleet-200',
      data: { dataset: 'spam', partition: { kind: 'iid', clients: 200 } },
      strategy: { name: 'fedavg', sampling: { fraction: 0.05, minClients: 2 } },
      training: { rounds: 3, localSteps: 1, batchSize: 2, learningRate: 0.01 },
      evaluation: { windows: 1, batchSize: 8, global: 'participants' },
      transport: 'in-process',
      output: { dir: await tempDir('sim-fleet'), plots: false },
    });
    const stats: FleetRoundStats[] = [];
    const before = tf.memory().numTensors;
    const result = await simulate(new ScenarioFleetRunner({ onRoundStats: (s) => stats.push(s) }), scenario, {
      write: () => undefined,
    });
    const summary = result.runs[0]!.summary;
    expect(summary.clients).toBe(200);
    expect(summary.rounds).toBe(3);
    expect(stats.map((s) => s.participants)).toEqual([10, 10, 10]);
    // At most one round's participants were ever alive as models at once...
    expect(Math.max(...stats.map((s) => s.peakTrainers))).toBeLessThanOrEqual(10);
    expect(Math.max(...stats.map((s) => s.peakTrainers))).toBeGreaterThan(0);
    // ...and only clients that took part hold any stored state, a few KB each.
    const last = stats[stats.length - 1]!;
    expect(last.storedClients).toBeLessThanOrEqual(30);
    expect(last.storedClients).toBeGreaterThanOrEqual(10);
    expect(last.storedStateBytes / last.storedClients).toBeLessThan(64 * 1024);
    expect(tf.memory().numTensors).toBe(before);
  });
});
