/**
 * The coordinator under many concurrent clients: N socket.io clients on loopback, each a null trainer that
 * uploads a PiCa-sized update (the shared tensors of `pica` on tiny-gpt, 48 KiB) every round.
 *
 * Processes: the coordinator runs alone in one (`bench/net/coordinator-process.ts`: the real `Coordinator`
 * behind `startSocketIoServer`, journal and checkpoints on as in `fedpeft serve`), so its memory is measured
 * by itself; the clients run in one or two others (`bench/net/null-fleet-process.ts`, up to 500 connections
 * each). All N join first; then the round starts, and every client downloads the global state and uploads.
 * Each connection holds one file descriptor in the coordinator and one in its fleet process, so 1000 clients
 * need about 1,000 (+ a few dozen) in the coordinator and 500 in each fleet process: under the usual soft limit
 * of 1,024 per process only because the fleet is split, and only just for the coordinator. Raise `ulimit -n`
 * for more clients; the coordinator's limit is logged (20,000 on the machine the results come from).
 *
 * Keys, for N = 100 (default suite `coordinator`) and N = 1000 (opt-in suite `coordinator-1000`, `--scale`):
 * - `coordinator.<N>_clients.round_s`: median over the rounds of the round time from opening the round
 *   (instructions sent) to the aggregate being the new global state (checkpoint written), as the coordinator
 *   reports it (`RoundSummary.roundMs`);
 * - `coordinator.<N>_clients.rss_mb`: the coordinator process's peak resident memory over the whole run
 *   (Linux VmHWM; elsewhere the maximum of 20 ms samples), which includes tfjs and the base model it loads
 *   once at start to learn the method's shapes; `..._clients.rss_before_join_mb` is its RSS before any client
 *   connected, so the difference is what the clients and the rounds cost;
 * - `coordinator.<N>_clients.join_s`: time for all N clients to connect and be welcomed.
 */
import { BenchChild } from '../net/child-process.ts';
import type { CoordinatorProcessOptions } from '../net/coordinator-process.ts';
import type { NullFleetOptions } from '../net/null-fleet-process.ts';
import { median } from '../harness/timing.ts';
import type { BenchContext, BenchSuite } from '../harness/types.ts';

const PER_FLEET_PROCESS = 500;
const ROUNDS = 2;

async function measureScale(ctx: BenchContext, clients: number): Promise<void> {
  const key = `coordinator.${clients}_clients`;
  const coordinatorOptions: CoordinatorProcessOptions = { clients, rounds: ROUNDS };
  const coordinator = new BenchChild('bench/net/coordinator-process.ts', coordinatorOptions, 'coordinator');
  const fleets: BenchChild[] = [];
  try {
    const ready = await coordinator.next('ready', 120_000);
    ctx.log(
      `coordinator up (${Number(ready.rssMb).toFixed(0)} MB RSS, shared state ${Number(ready.sharedBytes) / 1024} KiB, ` +
        `bufferutil ${String(ready.bufferutil)}, open-file limit ${String(ready.openFileLimit)}); ${clients} clients joining`,
    );
    const t0 = performance.now();
    for (let first = 0; first < clients; first += PER_FLEET_PROCESS) {
      const fleetOptions: NullFleetOptions = {
        url: String(ready.url),
        token: String(ready.token),
        signature: ready.signature as number[],
        first,
        count: Math.min(PER_FLEET_PROCESS, clients - first),
      };
      fleets.push(new BenchChild('bench/net/null-fleet-process.ts', fleetOptions, `fleet ${first}`));
    }
    for (const fleet of fleets) await fleet.next('joined', 300_000);
    const joinS = (performance.now() - t0) / 1000;
    coordinator.send({ type: 'start' });
    const roundMs: number[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const round = await coordinator.next('round', 600_000);
      if (round.participants !== clients) {
        throw new Error(`round ${r}: ${String(round.participants)} of ${clients} clients contributed`);
      }
      roundMs.push(Number(round.roundMs));
      ctx.log(
        `round ${r}: ${(Number(round.roundMs) / 1000).toFixed(2)} s, ${clients} updates, ` +
          `${(Number(round.bytesUp) / 1e6).toFixed(1)} MB up, ${(Number(round.bytesDown) / 1e6).toFixed(1)} MB down, ` +
          `RSS ${Number(round.rssMb).toFixed(0)} MB`,
      );
    }
    const done = await coordinator.next('done', 60_000);
    for (const fleet of fleets) {
      const f = await fleet.next('finished', 60_000);
      const errors = Object.entries(f.errors as Record<string, number>);
      if (errors.length > 0) ctx.log(`client errors: ${errors.map(([c, n]) => `${c} x${n}`).join(', ')}`);
    }
    ctx.log(
      `peak RSS from ${String(done.peakSource)}; max sampled ${Number(done.maxSampledRssMb).toFixed(0)} MB`,
    );
    ctx.record(`${key}.round_s`, median(roundMs) / 1000, 's');
    ctx.record(`${key}.rss_mb`, Number(done.peakRssMb), 'MiB');
    ctx.record(`${key}.rss_before_join_mb`, Number(ready.rssMb), 'MiB');
    ctx.record(`${key}.join_s`, joinS, 's');
    const limit = Number(ready.openFileLimit);
    if (Number.isFinite(limit) && limit < clients + 64) {
      ctx.log(`warning: the coordinator's open-file limit (${limit}) is barely above ${clients} connections`);
    }
  } finally {
    await Promise.all([coordinator.stop(5000), ...fleets.map((f) => f.stop(5000))]);
  }
}

export const coordinatorSuite: BenchSuite = {
  name: 'coordinator',
  description: '100 socket.io null-trainer clients, PiCa-sized updates: round time and coordinator RSS',
  run: (ctx) => measureScale(ctx, 100),
};

export const coordinatorScaleSuite: BenchSuite = {
  name: 'coordinator-1000',
  description: '1000 socket.io null-trainer clients, PiCa-sized updates: round time and coordinator RSS',
  optIn: { flag: 'scale', description: '1000 concurrent socket.io clients against one coordinator (~1 min)' },
  run: (ctx) => measureScale(ctx, 1000),
};
