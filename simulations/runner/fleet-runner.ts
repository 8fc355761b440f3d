/**
 * The fleet runner: one scenario's federation, end to end, with the production coordinator and client code.
 *
 *   base        the pretrained base from the cache (pretrained on first use), or the seeded initialisation
 *   clients     the corpus partitioned as the scenario says; every client's held-out documents scored by the
 *               base before training, by each round's global state, and by its own personal adapter
 *   rounds      the device model decides who is online (availability, memory fit) and who drops out; the
 *               coordinator's sampler (scenario.strategy.sampling, by client id) picks the round's participants; they run as
 *               real `ClientRuntime`s — in worker processes over loopback socket.io (`transport: sockets`) or
 *               in this process over in-memory links (`transport: in-process`) — against a real `Coordinator`
 *   recording   per-round metrics through the recorder, the global state of every round saved for `export`
 *
 * One coordinator for the whole run (run-coordinator.ts), as a deployment has: the device model's
 * availability reaches it as eligibility (the participation plug point), and its own seeded sampler — the
 * scenario's `strategy.sampling` as written — picks each round's participants among the eligible clients by
 * stable client id. Before round 1 every client joins once (registration) so the coordinator has its session;
 * afterwards a client is woken only when sampled and resumes that session from its state store, as a device
 * that comes back online would. Stateful methods catch up on the folds they missed from the coordinator's
 * fold history before training.
 *
 * Memory: only the round's participants hold a model (see virtual-client-host.ts); between rounds a client is
 * its state snapshot, kept here. Reproducible: participants, dropouts and every client's batches come from the
 * seed; aggregation is the coordinator's float64 running sum (order-independent up to rounding).
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { tf } from '../../shared/tensor/tf.ts';
import { FedpeftError } from '../../shared/errors.ts';
import { serializeSafetensors } from '../../shared/model/safetensors.ts';
import { asBuffer } from '../../shared/model/checkpoint.ts';
import { hostTensorSize, type HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { PretrainEvents } from '../../shared/pretrain/pretrain-run.node.ts';
import { newSecret } from '../../server/client-session.ts';
import { describeMethod, type MethodState } from '../../server/method-state.ts';
import { connectInProcess } from '../../server/transport/in-process.ts';
import { DeviceFleet, type TrainingFootprint } from '../devices.ts';
import type { Scenario } from '../scenario.ts';
import type { FleetRunner, FleetRunOptions, FleetRunResult } from '../simulate.ts';
import type { ClientResultInput, RoundMetricsInput } from '../report/run-records.ts';
import { loadBaseWeights, resolveBase, scenarioWithBaseModel } from './base-model.ts';
import { snapshotBytes, type ClientStateSnapshot } from './compact-state-store.ts';
import { clientData, federationClients, scenarioContextLength } from './federation-data.ts';
import { pooledAccuracy, scenarioTask } from './classification-data.ts';
import { FederationEvaluator, pooledPerplexity, type ClientScore } from './federation-evaluator.ts';
import { VirtualClientHost, type ClientAssignment, type ClientRoundReport } from './virtual-client-host.ts';
import { WorkerPool } from './worker-pool.ts';
import { SimulationCoordinator, type OpenedRound } from './run-coordinator.ts';
import type { RoundSummary } from '../../server/metrics-log.ts';
import { linksRun } from '../../shared/adapters/method-schedule.ts';
import { ADAPTER_FILE, adapterRoundFile, type RunAdapterRecord } from './run-adapter.ts';

export interface FleetRunnerOptions {
  /** Progress of a first-use pretraining of the base (the CLI draws a progress bar). */
  pretrainEvents?: PretrainEvents;
  /** Called after every round with fleet statistics (tests and the fleet benchmark read them). */
  onRoundStats?: (stats: FleetRoundStats) => void;
}

export interface FleetRoundStats {
  round: number;
  participants: number;
  /** Most models with an adapter alive at once in any one client process so far. */
  peakTrainers: number;
  /** Clients whose kept state holds tensors (those that have trained; the rest keep only their session). */
  storedClients: number;
  storedStateBytes: number;
  rssBytes: number;
  roundSeconds: number;
}

/** Where the coordinator's own files (checkpoints, sessions) go inside the run folder. */
export const COORDINATOR_DIR = 'coordinator';
/**
 * Most clients registering (joining once before round 1) at the same time: each holds a model meanwhile,
 * and never more than a round's smallest sample (`sampling.minClients`), so registration does not raise the
 * peak of live models above what rounds need.
 */
const REGISTRATION_BATCH = 16;
/** How long a round may take to close once its clients have left (drops take dropAfterMs). */
const CLOSE_TIMEOUT_MS = 60_000;

/** Roughly what one training step keeps alive per layer: a dozen [B, T, d]-sized activations (float32). */
function footprintOf(
  scenario: Scenario,
  baseParams: number,
  method: MethodState,
  trainable: number,
): TrainingFootprint {
  const size = scenario.model.overrides;
  const d = Number(size.dModel ?? 0) || 96;
  const layers = Number(size.layers ?? 0) || 2;
  // A classifier's activations are a few [B, width] rows, not [B, T, d]: count it as one position.
  const T = scenarioTask(scenario) === 'classification' ? 1 : scenarioContextLength(scenario);
  const r = typeof method.methodConfig.r === 'number' ? method.methodConfig.r : 1;
  return {
    baseParams,
    activationBytes: 12 * scenario.training.batchSize * T * d * layers * 4,
    adapterParamsPerRank: trainable / r,
    maxRank: r,
  };
}

function meanOf(values: Array<number | null>): number | null {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

interface Executor {
  runRound(assignments: ClientAssignment[]): Promise<{
    reports: ClientRoundReport[];
    peakTrainers: number;
    rssBytes: number;
  }>;
  close(): Promise<void>;
}

export class ScenarioFleetRunner implements FleetRunner {
  constructor(private readonly options: FleetRunnerOptions = {}) {}

  async run({ scenario: given, recorder, log, signal }: FleetRunOptions): Promise<FleetRunResult> {
    const scenario = await scenarioWithBaseModel(given);
    const startedAt = new Date();
    const wallStart = performance.now();
    const task = scenarioTask(scenario);
    const classify = task === 'classification';
    if (!classify) scenarioContextLength(scenario); // a model the runner cannot train fails here, before any work
    const clients = federationClients(scenario);
    for (const w of clients.warnings) log(`data: ${w}`);
    log(
      `clients: ${clients.ids.length} (${scenario.data.dataset}, ${scenario.data.partition.kind} partition)`,
    );

    const base = await resolveBase(scenario, {
      log,
      ...(this.options.pretrainEvents ? { pretrainEvents: this.options.pretrainEvents } : {}),
      ...(signal ? { signal } : {}),
    });
    log(`base: ${base.description}`);
    const baseWeights = await loadBaseWeights(base.dir);
    const backend = tf.getBackend() === 'wasm' ? 'wasm' : 'cpu';

    const method = describeMethod({
      model: scenario.model.name,
      modelConfig: scenario.model.overrides,
      method: scenario.method.name,
      methodConfig: scenario.method.config,
      seed: scenario.seed,
      // The coordinator's signature reference comes from the same base the clients train on.
      ...(baseWeights ? { baseWeights } : {}),
    });
    const roundsPerLink = scenario.method.roundsPerLink;
    const evaluator = FederationEvaluator.create({
      model: scenario.model.name,
      modelConfig: scenario.model.overrides,
      method: scenario.method.name,
      methodConfig: scenario.method.config,
      seed: scenario.seed,
      baseWeights,
      roundsPerLink,
    });
    const runDir = recorder.dir;
    const coordinatorDir = join(runDir, COORDINATOR_DIR);
    const token = newSecret();
    const serverLabel = `fleet:${recorder.runId}`;
    let executor: Executor | undefined;
    let sim: SimulationCoordinator | undefined;
    try {
      const data = new Map(clients.ids.map((id) => [id, clientData(scenario, clients.byId.get(id)!)]));
      const sharedParams = [...method.initialShared.values()].reduce(
        (s, t) => s + hostTensorSize(t.shape),
        0,
      );
      const trainableParams = evaluator.trainableParams();
      const baseParams = evaluator.baseParams();
      const fleet = new DeviceFleet(
        scenario.devices,
        clients.ids,
        scenario.seed,
        footprintOf(scenario, baseParams, method, trainableParams),
      );
      const globalBytes = sharedParams * 4;

      await mkdir(join(runDir, 'adapters'), { recursive: true });
      await writeFileAtomic(
        join(runDir, ADAPTER_FILE),
        `${JSON.stringify(
          {
            format: 'fedpeft-run-adapter',
            method: scenario.method.name,
            methodConfig: method.methodConfig,
            model: scenario.model.name,
            modelConfig: scenario.model.overrides,
            seed: scenario.seed,
            baseDir: base.dir,
            roundsPerLink,
            rounds: [],
          } satisfies RunAdapterRecord,
          null,
          2,
        )}\n`,
      );

      log('scoring the base on every client’s held-out documents');
      const baseScores = new Map<string, ClientScore>();
      for (const id of clients.ids) baseScores.set(id, evaluator.score(data.get(id)!));
      const basePpl = pooledPerplexity(baseScores.values())!.ppl;
      const baseAccuracy = classify ? pooledAccuracy(baseScores.values()) : null;
      log(
        classify
          ? `base accuracy on held-out ${scenario.data.dataset}: ${((baseAccuracy ?? 0) * 100).toFixed(1)}%`
          : `base perplexity on held-out ${scenario.data.dataset}: ${basePpl.toFixed(3)}`,
      );

      sim = await SimulationCoordinator.start({
        scenario,
        method,
        runId: recorder.runId,
        runDir: coordinatorDir,
        clientCount: clients.ids.length,
        token,
        log,
      });
      executor = await this.startExecutor(scenario, base.dir, backend, token, serverLabel, sim, log);
      const states = new Map<string, ClientStateSnapshot>();
      await this.registerClients(
        executor,
        clients.ids,
        fleet,
        states,
        scenario.strategy.sampling.minClients,
        log,
      );
      const participated = new Map<string, number>();
      const lastPersonal = new Map<string, ClientScore>();
      let lastGlobalScores: Map<string, ClientScore> | null = null;
      let global: HostTensorMap = method.initialShared;
      let bytesUpTotal = 0;
      let bytesDownTotal = 0;
      let lastEpsilon: number | null = null;
      let completedRounds = 0;
      const savedRounds: number[] = [];

      for (let round = 1; round <= scenario.training.rounds; round++) {
        if (signal?.aborted) {
          log(`interrupted before round ${round}`);
          break;
        }
        const roundStart = performance.now();
        const available = fleet.available(round);
        const opened = await sim.openRound(available);
        if (!opened && sim.finished) {
          log(`round ${round}: the coordinator ended the run before it (privacy budget exhausted)`);
          break;
        }
        if (!opened) {
          log(
            `round ${round}: only ${available.length} client(s) online, fewer than sampling.minClients ` +
              `(${scenario.strategy.sampling.minClients}); the round is skipped`,
          );
          await recorder.recordRound({
            round,
            participants: 0,
            completed: 0,
            dropped: 0,
            train_loss: null,
            global_val_loss: null,
            global_val_ppl: null,
            global_val_accuracy: null,
            personal_val_loss: null,
            personal_val_ppl: null,
            personal_val_accuracy: null,
            bytes_up: 0,
            bytes_down: 0,
            round_s: (performance.now() - roundStart) / 1000,
            simulated_round_s: 0,
          });
          continue;
        }
        const participants = opened.sampled;
        const deadline = scenario.training.deadlineSeconds;
        const assignments: ClientAssignment[] = participants.map((id) => {
          const cls = fleet.deviceOf(id);
          const state = states.get(id);
          return {
            clientId: id,
            dropout: fleet.draw(round, id).dropsOut,
            ...(deadline !== undefined
              ? {
                  deadline: {
                    seconds: deadline,
                    speed: cls.speed,
                    transferSeconds:
                      cls.latencyMs / 500 +
                      (globalBytes * 8) / (cls.downMbps * 1e6) +
                      (globalBytes * 8) / (cls.upMbps * 1e6),
                  },
                }
              : {}),
            ...(state ? { state } : {}),
            maxRank: fleet.capacityOf(id).rank,
            round,
            coordinatorRound: opened.id,
          };
        });

        const outcome = await this.runRound(sim, executor, assignments, opened);
        for (const r of outcome.reports) states.set(r.clientId, r.state);
        const failed = outcome.reports.filter((r) => r.outcome === 'error');
        if (failed.length > 0) {
          throw new FedpeftError(
            'SIMULATION_FAILED',
            `round ${round}: ${failed.length} client(s) failed: ` +
              failed
                .map((f) => `${f.clientId}: ${f.error ?? 'unknown error'}`)
                .join('; ')
                .slice(0, 1000),
          );
        }
        if (!outcome.summary) {
          log(`round ${round}: the coordinator ended the run before it (privacy budget exhausted)`);
          break;
        }
        completedRounds = round;
        global = outcome.global;
        await writeFileAtomic(join(runDir, adapterRoundFile(round)), asBuffer(serializeSafetensors(global)));
        savedRounds.push(round);
        evaluator.advance(round, global);

        const completed = outcome.reports.filter((r) => r.outcome === 'completed');
        for (const r of completed) {
          participated.set(r.clientId, (participated.get(r.clientId) ?? 0) + 1);
          if (r.personalValLoss !== null)
            lastPersonal.set(r.clientId, {
              loss: r.personalValLoss,
              tokens: r.validationTokens,
              accuracy: r.personalValAccuracy ?? null,
            });
        }
        const evaluate = round % scenario.evaluation.every === 0 || round === scenario.training.rounds;
        let globalPooled: { loss: number; ppl: number } | null = null;
        let globalAccuracy: number | null = null;
        if (evaluate) {
          const ids = scenario.evaluation.global === 'all' ? clients.ids : participants;
          const scores = new Map<string, ClientScore>();
          for (const id of ids) scores.set(id, evaluator.score(data.get(id)!));
          globalPooled = pooledPerplexity(scores.values());
          globalAccuracy = classify ? pooledAccuracy(scores.values()) : null;
          if (scenario.evaluation.global === 'all') lastGlobalScores = scores;
        }
        const personalScores = completed
          .filter((r) => r.personalValLoss !== null)
          .map((r) => ({
            loss: r.personalValLoss!,
            tokens: r.validationTokens,
            accuracy: r.personalValAccuracy ?? null,
          }));
        const personalPooled = scenario.evaluation.personal ? pooledPerplexity(personalScores) : null;
        const personalAccuracy =
          scenario.evaluation.personal && classify ? pooledAccuracy(personalScores) : null;
        const simulated = fleet.simulateRound(
          round,
          outcome.reports.map((r) => ({
            clientId: r.clientId,
            measuredComputeSeconds: r.computeMs / 1000,
            bytesDown: r.bytesDown,
            bytesUp: r.bytesUp,
          })),
          deadline,
        );
        const bytesUp = outcome.reports.reduce((s, r) => s + r.bytesUp, 0);
        const bytesDown = outcome.reports.reduce((s, r) => s + r.bytesDown, 0);
        bytesUpTotal += bytesUp;
        bytesDownTotal += bytesDown;
        const epsilon = outcome.summary.strategy.dpEpsilon;
        if (epsilon !== undefined) lastEpsilon = epsilon;
        const dropped = outcome.reports.filter((r) => r.outcome !== 'completed');
        const roundSeconds = (performance.now() - roundStart) / 1000;
        const metrics: RoundMetricsInput = {
          round,
          participants: participants.length,
          completed: outcome.summary.participants,
          dropped: dropped.length,
          dropped_clients: dropped.map((r) => ({
            client_id: r.clientId,
            reason: r.outcome as 'dropout' | 'deadline' | 'error',
          })),
          train_loss: meanOf(completed.map((r) => r.trainLoss)),
          global_val_loss: globalPooled?.loss ?? null,
          // Perplexity means nothing for a classifier: its quality is accuracy (the loss stays, per example).
          global_val_ppl: classify ? null : (globalPooled?.ppl ?? null),
          global_val_accuracy: globalAccuracy,
          personal_val_loss: personalPooled?.loss ?? null,
          personal_val_ppl: classify ? null : (personalPooled?.ppl ?? null),
          personal_val_accuracy: personalAccuracy,
          bytes_up: bytesUp,
          bytes_down: bytesDown,
          round_s: roundSeconds,
          simulated_round_s: simulated.roundSeconds,
          epsilon: epsilon ?? null,
          delta: epsilon !== undefined ? (scenario.privacy.dp?.targetDelta ?? null) : null,
        };
        await recorder.recordRound(metrics);
        let storedBytes = 0;
        let storedClients = 0;
        for (const s of states.values()) {
          const bytes = snapshotBytes(s);
          storedBytes += bytes;
          if (bytes > 0) storedClients++;
        }
        this.options.onRoundStats?.({
          round,
          participants: participants.length,
          peakTrainers: outcome.peakTrainers,
          storedClients,
          storedStateBytes: storedBytes,
          rssBytes: Math.max(process.memoryUsage().rss, outcome.rssBytes),
          roundSeconds,
        });
      }

      await this.recordSavedRounds(runDir, savedRounds);
      if (!lastGlobalScores || lastGlobalScores.size !== clients.ids.length) {
        lastGlobalScores = new Map(clients.ids.map((id) => [id, evaluator.score(data.get(id)!)]));
      }
      const finalScores = lastGlobalScores;
      const finalGlobal = pooledPerplexity(finalScores.values());
      const finalPersonal = pooledPerplexity(lastPersonal.values());
      const clientResults: ClientResultInput[] = clients.ids.map((id) => ({
        client_id: id,
        device_class: fleet.deviceOf(id).name,
        rounds_participated: participated.get(id) ?? 0,
        base_ppl: classify ? null : Math.exp(baseScores.get(id)!.loss),
        global_ppl: classify ? null : Math.exp(finalScores.get(id)!.loss),
        personal_ppl: !classify && lastPersonal.has(id) ? Math.exp(lastPersonal.get(id)!.loss) : null,
        base_accuracy: baseScores.get(id)!.accuracy ?? null,
        global_accuracy: finalScores.get(id)!.accuracy ?? null,
        personal_accuracy: lastPersonal.get(id)?.accuracy ?? null,
      }));
      return {
        summary: {
          scenario: scenario.name,
          task,
          method: scenario.method.name,
          strategy: scenario.strategy.name,
          seed: scenario.seed,
          clients: clients.ids.length,
          rounds: completedRounds,
          links: method.chained ? linksRun(completedRounds, roundsPerLink) : null,
          base_ppl: classify ? null : basePpl,
          final_global_ppl: classify ? null : (finalGlobal?.ppl ?? basePpl),
          final_personal_ppl: classify ? null : (finalPersonal?.ppl ?? null),
          base_accuracy: baseAccuracy,
          final_global_accuracy: classify ? (pooledAccuracy(finalScores.values()) ?? baseAccuracy) : null,
          final_personal_accuracy: classify ? pooledAccuracy(lastPersonal.values()) : null,
          bytes_up: bytesUpTotal,
          bytes_down: bytesDownTotal,
          wall_s: (performance.now() - wallStart) / 1000,
          trainable_params: trainableParams,
          shared_params: sharedParams,
          epsilon: lastEpsilon,
          delta: lastEpsilon !== null ? (scenario.privacy.dp?.targetDelta ?? null) : null,
          started_at: startedAt.toISOString(),
          finished_at: new Date().toISOString(),
        },
        clients: clientResults,
      };
    } finally {
      await sim?.stop('simulation over');
      await executor?.close();
      evaluator.dispose();
      // The run keeps adapters/round-N files; the coordinator's checkpoints are not needed after it.
      await rm(join(coordinatorDir, 'checkpoints'), { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private async recordSavedRounds(runDir: string, rounds: number[]): Promise<void> {
    const path = join(runDir, ADAPTER_FILE);
    const record = JSON.parse(await readFile(path, 'utf8')) as RunAdapterRecord;
    await writeFileAtomic(path, `${JSON.stringify({ ...record, rounds }, null, 2)}\n`);
  }

  private async startExecutor(
    scenario: Scenario,
    baseDir: string | null,
    backend: 'cpu' | 'wasm',
    token: string,
    serverLabel: string,
    sim: SimulationCoordinator,
    log: (line: string) => void,
  ): Promise<Executor> {
    if (scenario.transport === 'sockets') {
      log(`starting ${scenario.workers} client worker process(es) (${backend} backend)`);
      const pool = await WorkerPool.start({
        workers: scenario.workers,
        scenario,
        baseDir,
        backend,
        token,
        serverLabel,
      });
      return {
        runRound: async (assignments) => {
          const r = await pool.runRound(assignments, sim.url);
          return {
            reports: r.reports,
            peakTrainers: r.peakTrainers,
            rssBytes: Math.max(0, ...r.workerRssBytes),
          };
        },
        close: () => pool.close(),
      };
    }
    const host = new VirtualClientHost({
      scenario,
      baseWeights: await loadBaseWeights(baseDir),
      token,
      serverLabel,
    });
    return {
      runRound: async (assignments) => {
        const reports = await host.runRound(assignments, () =>
          Promise.resolve(connectInProcess(sim.coordinator, 'fleet')),
        );
        return { reports, peakTrainers: host.trainerCounts.peak, rssBytes: process.memoryUsage().rss };
      },
      close: () => Promise.resolve(),
    };
  }

  /**
   * Before round 1: every client joins once, a batch at a time, so the coordinator holds a signed session
   * for each (it samples among sessions, and wakes the sampled clients through the simulator).
   */
  private async registerClients(
    executor: Executor,
    ids: readonly string[],
    fleet: DeviceFleet,
    states: Map<string, ClientStateSnapshot>,
    batchLimit: number,
    log: (line: string) => void,
  ): Promise<void> {
    log(`registering ${ids.length} client(s) with the coordinator`);
    const size = Math.max(1, Math.min(REGISTRATION_BATCH, batchLimit));
    for (let i = 0; i < ids.length; i += size) {
      const batch = ids.slice(i, i + size).map((clientId) => ({
        clientId,
        dropout: false,
        register: true,
        maxRank: fleet.capacityOf(clientId).rank,
      }));
      const { reports } = await executor.runRound(batch);
      const failed = reports.filter((r) => r.outcome === 'error');
      if (failed.length > 0) {
        throw new FedpeftError(
          'SIMULATION_FAILED',
          `registration: ${failed
            .map((f) => `${f.clientId}: ${f.error ?? 'unknown error'}`)
            .join('; ')
            .slice(0, 1000)}`,
        );
      }
      for (const r of reports) states.set(r.clientId, r.state);
    }
  }

  /** Wakes the sampled clients, lets them run the round, and waits for the coordinator to close it. */
  private async runRound(
    sim: SimulationCoordinator,
    executor: Executor,
    assignments: ClientAssignment[],
    opened: OpenedRound,
  ): Promise<{
    reports: ClientRoundReport[];
    summary: RoundSummary | null;
    global: HostTensorMap;
    peakTrainers: number;
    rssBytes: number;
  }> {
    const result = await executor.runRound(assignments);
    if (result.reports.some((r) => r.outcome === 'error')) {
      await sim.stop('a client failed');
      return { ...result, summary: null, global: sim.coordinator.globalState() };
    }
    // Every woken client has left or vanished: the round closes at once (commits or drops after dropAfterMs).
    let timer: NodeJS.Timeout | undefined;
    const summary = await Promise.race([
      opened.closed,
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), CLOSE_TIMEOUT_MS))),
    ]).finally(() => clearTimeout(timer));
    if (!summary) {
      throw new FedpeftError(
        'SIMULATION_FAILED',
        `coordinator round ${opened.id} did not close within ${CLOSE_TIMEOUT_MS / 1000} s after its clients left`,
      );
    }
    return { ...result, summary, global: sim.coordinator.globalState() };
  }
}
