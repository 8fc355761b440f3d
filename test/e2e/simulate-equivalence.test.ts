/**
 * A simulated run of a stateful method ends in the same global state as the same seeded run deployed: one
 * served coordinator over real socket.io, and long-lived `ClientRuntime`s (one per client, kept for the whole
 * run, each with its own on-disk `FileStateStore`), one of which is restarted from its store mid-run.
 *
 * The simulator wakes a virtual client only when the coordinator samples it and rebuilds its trainer from its
 * state store each time, so this holds only if (a) the coordinator samples the same clients (its own sampler,
 * by stable client id, the scenario's fraction as written), (b) a client that skipped rounds or restarted
 * catches up on every fold and link change it missed (fold history) and (c) its private state (AdamW moments,
 * the method's device-only tensors) survives between rounds through the state store.
 *
 * Partial participation: 2 of 3 clients per round (fraction 0.5); chained methods change link every 2 rounds
 * of 4. FLoRA is not here yet: its deployed run completes (stacked tensors are no longer refused for their
 * extents), but its simulated and deployed globals differ (relative error of the folded products A·B ~0.8),
 * an open part of issue 12.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../shared/tensor/backend.ts';
import { parseSafetensors } from '../../shared/model/safetensors.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { Coordinator } from '../../server/coordinator.ts';
import { newSecret } from '../../server/client-session.ts';
import { silentLogger } from '../../server/logger.ts';
import { describeMethod } from '../../server/method-state.ts';
import { startSocketIoServer } from '../../server/transport/socket-io-server.ts';
import { ClientRuntime } from '../../client/runtime.ts';
import { ClientTrainer } from '../../client/trainer.ts';
import { FileStateStore } from '../../client/file-state-store.ts';
import { socketIoConnector } from '../../client/connection.ts';
import { simulate } from '../../simulations/simulate.ts';
import type { Scenario } from '../../simulations/scenario.ts';
import { ScenarioFleetRunner } from '../../simulations/runner/fleet-runner.ts';
import { adapterRoundFile } from '../../simulations/runner/run-adapter.ts';
import { simulationCoordinatorConfig } from '../../simulations/runner/run-coordinator.ts';
import { clientData, federationClients } from '../../simulations/runner/federation-data.ts';
import { tempDir, tinyScenario } from './simulate-fixtures.ts';

const ROUNDS = 4;
const METHODS = ['c3la', 'random-c3la', 'cola', 'rac-lora'] as const;

function scenarioFor(method: string, transport: 'in-process' | 'sockets', dir: string): Scenario {
  return tinyScenario({
    name: `eq-${method}-${transport}`,
    data: { dataset: 'sotu', partition: { kind: 'natural', by: 'president', maxClients: 3 } },
    method: { name: method, config: { r: 2, alpha: 4 }, roundsPerLink: 2 },
    strategy: { name: 'fedavg', sampling: { fraction: 0.5, minClients: 1 } },
    training: { rounds: ROUNDS, localSteps: 2, batchSize: 2, learningRate: 0.05 },
    evaluation: { windows: 1, batchSize: 4, global: 'participants', personal: false },
    transport,
    output: { dir, plots: false },
  });
}

async function simulated(scenario: Scenario): Promise<HostTensorMap> {
  const result = await simulate(new ScenarioFleetRunner(), scenario, { write: () => undefined });
  const run = result.runs[0]!;
  expect(run.summary.rounds).toBe(ROUNDS);
  return parseSafetensors(await readFile(join(run.dir, adapterRoundFile(ROUNDS)))).tensors;
}

/**
 * The deployed run: a served coordinator and one long-lived runtime per client; `restart` is stopped after
 * round 2 and started again from its state store. Rounds start only with every client connected (as in the
 * simulation, where every client is always online), so both sample from the same set.
 */
async function deployed(scenario: Scenario, restart: number): Promise<HostTensorMap> {
  const dir = await mkdtemp(join(tmpdir(), 'fedpeft-eq-deployed-'));
  const clients = federationClients(scenario);
  const token = newSecret();
  const runId = `deployed-${scenario.method.name}`;
  const method = describeMethod({
    model: scenario.model.name,
    modelConfig: scenario.model.overrides,
    method: scenario.method.name,
    methodConfig: scenario.method.config,
    seed: scenario.seed,
  });
  let paused = false;
  let connected = new Set<string>();
  const coordinator = await Coordinator.create({
    config: simulationCoordinatorConfig(scenario, runId, clients.ids.length, token),
    method,
    runId,
    runDir: join(dir, 'coordinator'),
    eligibility: () => !paused && connected.size === clients.ids.length,
  });
  const server = await startSocketIoServer(coordinator, {
    host: '127.0.0.1',
    port: 0,
    adminToken: newSecret(),
    dashboard: { enabled: false },
    logger: silentLogger,
  });
  const data = new Map(clients.ids.map((id) => [id, clientData(scenario, clients.byId.get(id)!)]));
  const start = (id: string) => {
    let rejoining = false;
    const runtime: ClientRuntime = new ClientRuntime({
      connector: socketIoConnector(server.url),
      authToken: token,
      clientName: id,
      store: new FileStateStore(join(dir, 'clients', id.replace(/\W/g, '_'))),
      logger: {
        log: (_level, event) => {
          // A first join without signatures is followed at once by a signed one: count that one.
          if (event === 'rejoin-with-signatures') rejoining = true;
          if (event !== 'joined') return;
          rejoining = false;
          // Counted once bound (the runtime binds right after logging 'joined').
          setImmediate(() => {
            if (rejoining) return;
            connected = new Set([...connected, id]);
            void coordinator.participationChanged();
          });
        },
      },
      backoff: { initialMs: 20, maxMs: 200 },
      createTrainer: (run) => ClientTrainer.create({ run, data: data.get(id)!, label: id }),
    });
    return { runtime, done: runtime.run() };
  };
  const runtimes = new Map(clients.ids.map((id) => [id, start(id)]));
  const restartId = clients.ids[restart]!;
  let restarted: Promise<void> = Promise.resolve();
  coordinator.onRound((summary) => {
    if (summary.round !== 2) return;
    // Between rounds 2 and 3: no round starts until the restarted client is back.
    paused = true;
    restarted = (async () => {
      const old = runtimes.get(restartId)!;
      connected = new Set([...connected].filter((c) => c !== restartId));
      old.runtime.stop('restart');
      await old.done;
      old.runtime.dispose();
      runtimes.set(restartId, start(restartId));
      paused = false;
    })();
  });
  coordinator.start();
  await coordinator.whenFinished();
  await restarted;
  const global = coordinator.globalState();
  await Promise.all([...runtimes.values()].map((r) => r.done.catch(() => undefined)));
  for (const r of runtimes.values()) r.runtime.dispose();
  await coordinator.stop('done');
  await server.close();
  expect(coordinator.completedRounds).toBe(ROUNDS);
  return global;
}

function relativeError(a: HostTensorMap, b: HostTensorMap): number {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  let diff = 0;
  let norm = 0;
  for (const [name, t] of a) {
    const u = b.get(name)!;
    expect(u.shape).toEqual(t.shape);
    for (let i = 0; i < t.data.length; i++) {
      diff += (t.data[i]! - u.data[i]!) ** 2;
      norm += u.data[i]! ** 2;
    }
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-12);
}

describe('simulated vs deployed runs of stateful methods', () => {
  beforeAll(() => useBackend('cpu'));
  afterAll(() => undefined);

  it.each(METHODS)(
    '%s: simulated (in-process and sockets) = deployed over sockets',
    { timeout: 240_000 },
    async (m) => {
      const dir = await tempDir(`sim-eq-${m}`);
      const reference = await deployed(scenarioFor(m, 'sockets', dir), 1);
      const inProcess = await simulated(scenarioFor(m, 'in-process', dir));
      expect(relativeError(inProcess, reference)).toBeLessThanOrEqual(1e-5);
      const sockets = await simulated(scenarioFor(m, 'sockets', dir));
      expect(relativeError(sockets, reference)).toBeLessThanOrEqual(1e-5);
    },
  );
});
