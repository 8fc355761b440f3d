/**
 * The simulator runs ONE long-lived coordinator for a whole run, over either transport: `Coordinator.create`
 * is called once however many rounds run, and the coordinator itself (not the simulator) samples each round
 * with the scenario's sampling settings as written (here a fraction of 0.5 of four clients: two per round).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { useBackend } from '../../shared/tensor/backend.ts';
import { Coordinator } from '../../server/coordinator.ts';
import { simulate } from '../../simulations/simulate.ts';
import { ScenarioFleetRunner, type FleetRoundStats } from '../../simulations/runner/fleet-runner.ts';
import { tempDir, tinyScenario } from './simulate-fixtures.ts';

describe('fleet runner: one coordinator per run', () => {
  afterEach(() => vi.restoreAllMocks());

  it.each(['in-process', 'sockets'] as const)(
    '%s: constructs exactly one coordinator for a 3-round run',
    { timeout: 180_000 },
    async (transport) => {
      await useBackend('cpu');
      const create = vi.spyOn(Coordinator, 'create');
      const stats: FleetRoundStats[] = [];
      const scenario = tinyScenario({
        name: `one-coordinator-${transport}`,
        transport,
        strategy: { name: 'fedavg', sampling: { fraction: 0.5, minClients: 1 } },
        training: { rounds: 3, localSteps: 1, batchSize: 2, learningRate: 0.01 },
        output: { dir: await tempDir('sim-one-coord'), plots: false },
      });
      const result = await simulate(
        new ScenarioFleetRunner({ onRoundStats: (s) => stats.push(s) }),
        scenario,
        { write: () => undefined },
      );
      expect(result.runs[0]!.summary.rounds).toBe(3);
      expect(create).toHaveBeenCalledTimes(1);
      // The coordinator's sampler honoured fraction 0.5 of the 4 clients (the old runner forced fraction 1).
      expect(stats.map((s) => s.participants)).toEqual([2, 2, 2]);
    },
  );
});
