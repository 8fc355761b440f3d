/**
 * The simulation's one coordinator: a real `Coordinator` (and, for `transport: sockets`, its socket.io
 * server) built once per run and kept for every round, configured from the scenario as written — its
 * sampling, its method schedule, its privacy settings.
 *
 * Who is online is not the simulator's own sampling: the device model's availability reaches the coordinator
 * through the participation plug point (`CoordinatorOptions.eligibility`), and the coordinator's seeded
 * sampler (by stable client id = the client's name) draws the round among the eligible clients. Virtual clients
 * hold a model only while they take part, so the coordinator runs `wakeable`: it samples among every signed
 * session, connected or not, and the simulator wakes the sampled ones (`sampledClients()`).
 *
 * Rounds are released one at a time (`openRound`): until the simulator has released round N no client is
 * eligible for it, so a round never starts while the simulator is still recording the previous one.
 */
import { mkdir } from 'node:fs/promises';
import { parseCoordinatorConfig, type CoordinatorConfig } from '../../server/config.ts';
import { Coordinator } from '../../server/coordinator.ts';
import { newSecret } from '../../server/client-session.ts';
import type { Logger } from '../../server/logger.ts';
import type { MethodState } from '../../server/method-state.ts';
import type { RoundSummary } from '../../server/metrics-log.ts';
import { startSocketIoServer, type RunningServer } from '../../server/transport/socket-io-server.ts';
import type { Scenario } from '../scenario.ts';

/** Real-time safety net for a round (the scenario's deadline is simulated time, applied by the device model). */
const ROUND_TIMEOUT_MS = 30 * 60_000;

export function simulationCoordinatorConfig(
  scenario: Scenario,
  runId: string,
  clientCount: number,
  token: string,
): CoordinatorConfig {
  const dp = scenario.privacy.dp;
  const secure = scenario.privacy.secureAggregation;
  return parseCoordinatorConfig({
    run: { id: runId, seed: scenario.seed, rounds: scenario.training.rounds },
    model: { name: scenario.model.name, config: scenario.model.overrides },
    method: {
      name: scenario.method.name,
      config: scenario.method.config,
      roundsPerLink: scenario.method.roundsPerLink,
    },
    strategy: scenario.strategy,
    privacy: {
      ...(secure
        ? {
            secureAggregation: {
              ...(secure.threshold !== undefined ? { threshold: secure.threshold } : {}),
              clipRange: secure.clipRange,
              fractionalBits: secure.fractionalBits,
            },
          }
        : {}),
      ...(dp
        ? {
            dp: {
              placement: dp.placement,
              clipNorm: dp.clipNorm,
              ...(dp.adaptiveClipping ? { adaptiveClipping: dp.adaptiveClipping } : {}),
              noiseMultiplier: dp.noiseMultiplier,
              targetDelta: dp.targetDelta,
              ...(dp.epsilonBudget !== undefined ? { epsilonBudget: dp.epsilonBudget } : {}),
              // The sampling rate the accountant uses is participants / population: the whole fleet.
              population: clientCount,
              // Reproducible from the run seed, like everything else in a simulation.
              noiseSource: 'seeded',
            },
          }
        : {}),
    },
    // Every virtual client joins with the simulator's one token and stays registered between its rounds.
    limits: { maxSessionsPerToken: Math.max(1, clientCount) },
    round: {
      deadlineMs: ROUND_TIMEOUT_MS,
      // A woken client that then vanishes (a simulated dropout) is dropped at once.
      dropAfterMs: 50,
      localSteps: scenario.training.localSteps,
      batchSize: scenario.training.batchSize,
      learningRate: scenario.training.learningRate,
      evaluatePersonal: scenario.evaluation.personal,
    },
    transport: { host: '127.0.0.1', port: 0 },
    auth: { tokens: [token] },
    checkpoint: { journal: false, keep: 1 },
    dashboard: { enabled: false },
  });
}

/** Forwards the coordinator's warnings and errors (protocol errors, refused joins) to the run log. */
function coordinatorLogger(log: (line: string) => void): Logger {
  return {
    log(level, event, fields) {
      if (level === 'warn' || level === 'error')
        log(`coordinator ${level}: ${event} ${JSON.stringify(fields ?? {}).slice(0, 300)}`);
    },
  };
}

export interface OpenedRound {
  /** The coordinator's round id (rounds the simulator skipped for want of clients get none). */
  id: number;
  /** Stable ids (client names) the coordinator sampled. */
  sampled: string[];
  /** Resolves with the round's summary when the coordinator closes it. */
  closed: Promise<RoundSummary>;
}

/** Who the eligibility hook lets through: the released round's online clients (nobody between rounds). */
interface Gate {
  available: ReadonlySet<string>;
}

export class SimulationCoordinator {
  private readonly closedWaiters = new Map<number, (s: RoundSummary) => void>();

  private constructor(
    private readonly gate: Gate,
    readonly coordinator: Coordinator,
    private readonly server: RunningServer | undefined,
    /** Where clients connect: the socket.io url, or 'in-process'. */
    readonly url: string,
  ) {
    coordinator.onRound((s) => {
      this.closedWaiters.get(s.round)?.(s);
      this.closedWaiters.delete(s.round);
    });
  }

  static async start(args: {
    scenario: Scenario;
    method: MethodState;
    runId: string;
    runDir: string;
    clientCount: number;
    token: string;
    log: (line: string) => void;
  }): Promise<SimulationCoordinator> {
    await mkdir(args.runDir, { recursive: true });
    const logger = coordinatorLogger(args.log);
    const gate: Gate = { available: new Set() };
    const coordinator = await Coordinator.create({
      config: simulationCoordinatorConfig(args.scenario, args.runId, args.clientCount, args.token),
      method: args.method,
      runId: args.runId,
      runDir: args.runDir,
      logger,
      wakeable: true,
      // Device availability, as eligibility: a client is eligible for the released round while it is online.
      eligibility: ({ clientId }) => gate.available.has(clientId),
    });
    let server: RunningServer | undefined;
    let url = 'in-process';
    if (args.scenario.transport === 'sockets') {
      server = await startSocketIoServer(coordinator, {
        host: '127.0.0.1',
        port: 0,
        adminToken: newSecret(),
        dashboard: { enabled: false },
        logger,
      });
      url = server.url;
    }
    const self = new SimulationCoordinator(gate, coordinator, server, url);
    coordinator.start();
    return self;
  }

  /**
   * Releases the next round with `available` (client ids online now) as the eligible set, and returns what
   * the coordinator sampled, or null when it could not start a round (fewer eligible clients than
   * `sampling.minClients`, or the run is over).
   */
  async openRound(available: readonly string[]): Promise<OpenedRound | null> {
    this.gate.available = new Set(available);
    await this.coordinator.participationChanged();
    const active = this.coordinator.status().activeRound;
    // Nobody is eligible between rounds: the coordinator waits for the next release.
    this.gate.available = new Set();
    if (!active) return null;
    const closed = new Promise<RoundSummary>((resolve) => this.closedWaiters.set(active.id, resolve));
    return { id: active.id, sampled: this.coordinator.sampledClients(), closed };
  }

  get finished(): boolean {
    return this.coordinator.status().phase === 'finished';
  }

  async stop(reason: string): Promise<void> {
    await this.coordinator.stop(reason);
    await this.server?.close();
  }
}
