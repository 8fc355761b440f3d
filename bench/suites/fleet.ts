/**
 * A 1,000-client simulated fleet in one process (`transport: in-process`): what a researcher's laptop-scale
 * fleet costs per round and in memory. SpamAssassin emails split iid over 1,000 clients (about 6 emails each)
 * as language-model data, PiCa (r 4) on test-gpt from a seeded base (no pretraining inside a benchmark), 10%
 * of the clients per round, 5 local steps each, the global model scored on the round's participants.
 *
 * - `fleet.1000.round_s`: median wall-clock seconds of a round (coordinator segment, 100 clients joining,
 *   downloading, training, uploading, aggregation, evaluation);
 * - `fleet.1000.peak_rss_mb`: the process's peak resident memory over the run (Linux VmHWM; elsewhere the
 *   largest RSS seen after a round), the number that must stay bounded as the fleet grows;
 * - `fleet.1000.peak_trainers`: most client models alive at once (bounded by the round size, not the fleet).
 *
 * `--quick` runs 2 rounds instead of 4; keys stay the same.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scenarioSchema } from '../../simulations/scenario.ts';
import { simulate } from '../../simulations/simulate.ts';
import { ScenarioFleetRunner, type FleetRoundStats } from '../../simulations/runner/fleet-runner.ts';
import { median } from '../harness/timing.ts';
import type { BenchSuite } from '../harness/types.ts';

const CLIENTS = 1000;

/** Peak resident set size of this process in bytes (Linux), or null. */
function peakRssBytes(): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export const fleetSuite: BenchSuite = {
  name: 'fleet',
  description: `${CLIENTS} virtual clients in-process: seconds per round and peak memory`,
  optIn: { flag: 'fleet', description: `simulate a ${CLIENTS}-client fleet in-process (a few minutes)` },
  async run(ctx) {
    const dir = await mkdtemp(join(tmpdir(), 'fedpeft-bench-fleet-'));
    const rounds = ctx.quick ? 2 : 4;
    const scenario = scenarioSchema.parse({
      name: 'bench-fleet',
      seed: 0,
      data: { dataset: 'spam', partition: { kind: 'iid', clients: CLIENTS } },
      model: { name: 'test-gpt' },
      base: { source: 'random' },
      method: { name: 'pica', config: { r: 4 } },
      strategy: { name: 'fedavg', sampling: { fraction: 0.1, minClients: 10 } },
      training: { rounds, localSteps: 5, batchSize: 4, learningRate: 0.01 },
      evaluation: { windows: 2, batchSize: 8, global: 'participants' },
      transport: 'in-process',
      output: { dir, plots: false },
    });
    const stats: FleetRoundStats[] = [];
    try {
      await simulate(
        new ScenarioFleetRunner({
          onRoundStats: (s) => {
            stats.push(s);
            ctx.log(
              `round ${s.round}: ${s.participants} clients, ${s.roundSeconds.toFixed(1)} s, ` +
                `rss ${(s.rssBytes / 2 ** 20).toFixed(0)} MB, ${s.storedClients} stored client states`,
            );
          },
        }),
        scenario,
        { write: () => undefined },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const peak = peakRssBytes() ?? Math.max(...stats.map((s) => s.rssBytes));
    ctx.record(`fleet.${CLIENTS}.round_s`, median(stats.map((s) => s.roundSeconds)), 's');
    ctx.record(`fleet.${CLIENTS}.peak_rss_mb`, peak / 2 ** 20, 'MB');
    ctx.record(`fleet.${CLIENTS}.peak_trainers`, Math.max(...stats.map((s) => s.peakTrainers)), 'models');
  },
};
