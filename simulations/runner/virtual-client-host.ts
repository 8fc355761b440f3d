/**
 * Hosts many virtual clients in one process (a worker process over sockets, or the coordinator's own process
 * in-process) and runs the ones sampled for a round as real `ClientRuntime`s: join (resuming their session),
 * download the global state, train, upload, commit — the production client code, over whatever link the
 * caller provides.
 *
 * Bounded memory: only the round's participants hold a model and an adapter; a trainer lives for one round
 * and is disposed when the coordinator ends it. Between rounds a client is only its `StateStore` (session,
 * AdamW moments, the method's private tensors, its personal adapter) — a few adapter-sized arrays — plus its
 * token streams, which are rebuilt from the corpus when evicted. The base weights are read once per process.
 *
 * Training is serialized within a process (one trainer steps at a time): the runtimes of a round interleave on
 * one event loop anyway, and serializing keeps each client's measured compute time its own (the device model
 * turns it into simulated time) instead of including its neighbours' steps.
 */
import { FedpeftError } from '../../shared/errors.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { Rng } from '../../shared/tensor/rng.ts';
import { seededGaussianSource } from '../../shared/privacy/gaussian-source.ts';
import type { FrameLink } from '../../shared/wire/frame-link.ts';
import { ClientRuntime, type ClientLogger } from '../../client/runtime.ts';
import { ClientTrainer, type ClientRunConfig } from '../../client/trainer.ts';
import type { LocalTrainingData } from '../../client/local-training-data.ts';
import type { Scenario } from '../scenario.ts';
import { clientData, federationClients, type FederationClients } from './federation-data.ts';
import { CompactStateStore, type ClientStateSnapshot } from './compact-state-store.ts';

/** What a client does in its round, decided by the runner from the device model. */
export interface ClientAssignment {
  clientId: string;
  /** Drops out: trains, then vanishes during its upload (the coordinator never gets its commit). */
  dropout: boolean;
  /** Simulated seconds its transfers take and its device speed, to decide whether it misses the deadline. */
  deadline?: { seconds: number; speed: number; transferSeconds: number };
  /** The client's stored state from its previous rounds (absent on its first). */
  state?: ClientStateSnapshot;
  /**
   * Largest rank the device trains (from its memory budget or its class's fixed rank), advertised as
   * `max_rank`; the coordinator answers with `client_rank = min(max_rank, r)` for nested-rank methods.
   */
  maxRank?: number;
  /** The federation round (seeds this client's DP noise for the round, so runs stay reproducible). */
  round?: number;
  /**
   * The coordinator's round id the client was sampled for: it leaves once that round's GlobalState arrives
   * (the round closed), keeping its state for the next time it is sampled.
   */
  coordinatorRound?: number;
  /**
   * Registration only: join (with signatures when the method derives state) so the long-lived coordinator
   * has a session to sample, then leave without training.
   */
  register?: boolean;
}

export interface ClientRoundReport {
  clientId: string;
  outcome: 'completed' | 'dropout' | 'deadline' | 'error';
  error?: string;
  trainLoss: number | null;
  /** The received global state (before local training) on this client's validation windows. */
  globalValLoss: number | null;
  /** The personal copy (after local training) on the same windows. */
  personalValLoss: number | null;
  /** Classifiers only: accuracy of the same two views (absent for language models). */
  globalValAccuracy?: number | null;
  personalValAccuracy?: number | null;
  validationTokens: number;
  computeMs: number;
  /** Frame bytes this client sent / received this round (protobuf envelopes included). */
  bytesUp: number;
  bytesDown: number;
  /** The client's state to keep for its next round. */
  state: ClientStateSnapshot;
}

export interface HostOptions {
  scenario: Scenario;
  baseWeights: HostTensorMap | null;
  /** The join token of the run. */
  token: string;
  /** Label sessions are bound to (the coordinator address); the same for every round of a run. */
  serverLabel: string;
  /** Clients whose token streams stay cached (the rest are rebuilt per round). Default 64. */
  dataCacheSize?: number;
}

/** One promise chain: `run` calls execute one after another. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** Counts the bytes a link carries in each direction. */
function countingLink(link: FrameLink, traffic: { up: number; down: number }): FrameLink {
  return {
    get isOpen() {
      return link.isOpen;
    },
    get label() {
      return link.label;
    },
    send(frame) {
      traffic.up += frame.byteLength;
      link.send(frame);
    },
    onFrame(listener) {
      return link.onFrame((frame) => {
        traffic.down += frame.byteLength;
        listener(frame);
      });
    },
    onClose: (listener) => link.onClose(listener),
    close: (reason) => link.close(reason),
  };
}

export class VirtualClientHost {
  readonly scenario: Scenario;
  readonly clients: FederationClients;
  private readonly options: HostOptions;
  /** Runtimes of the round in progress (stopped all at once when the round cannot go on). */
  private readonly active = new Set<ClientRuntime>();
  private readonly dataCache = new Map<string, LocalTrainingData>();
  private readonly trainLock = new Mutex();
  private liveTrainers = 0;
  private peakTrainers = 0;

  constructor(options: HostOptions) {
    this.options = options;
    this.scenario = options.scenario;
    this.clients = federationClients(options.scenario);
  }

  get run(): ClientRunConfig {
    const s = this.scenario;
    return {
      model: s.model.name,
      modelConfig: s.model.overrides,
      method: s.method.name,
      methodConfig: s.method.config,
      seed: s.seed,
    };
  }

  /** Trainers (models with an adapter) alive right now, and the most ever alive at once. */
  get trainerCounts(): { live: number; peak: number } {
    return { live: this.liveTrainers, peak: this.peakTrainers };
  }

  /** Stops every runtime of the round in progress (another client failed, or the run was interrupted). */
  abort(reason: string): void {
    for (const r of this.active) r.stop(reason);
  }

  /** A client's token streams (cached for the most recently used clients). */
  data(clientId: string): LocalTrainingData {
    const cached = this.dataCache.get(clientId);
    if (cached) {
      this.dataCache.delete(clientId);
      this.dataCache.set(clientId, cached);
      return cached;
    }
    const client = this.clients.byId.get(clientId);
    if (!client)
      throw new FedpeftError('UNKNOWN_CLIENT', `client '${clientId}' is not part of this scenario`);
    const data = clientData(this.scenario, client);
    this.dataCache.set(clientId, data);
    const limit = this.options.dataCacheSize ?? 64;
    while (this.dataCache.size > limit) this.dataCache.delete(this.dataCache.keys().next().value as string);
    return data;
  }

  /**
   * Runs one round's participants until the coordinator ends the round for them. `connect` opens a fresh
   * link to the coordinator (socket.io or in-process).
   */
  async runRound(
    assignments: readonly ClientAssignment[],
    connect: () => Promise<FrameLink>,
  ): Promise<ClientRoundReport[]> {
    return Promise.all(assignments.map((a) => this.runClient(a, connect)));
  }

  private async runClient(
    a: ClientAssignment,
    connect: () => Promise<FrameLink>,
  ): Promise<ClientRoundReport> {
    const report: Omit<ClientRoundReport, 'state'> = {
      clientId: a.clientId,
      outcome: 'completed',
      trainLoss: null,
      globalValLoss: null,
      personalValLoss: null,
      validationTokens: 0,
      computeMs: 0,
      bytesUp: 0,
      bytesDown: 0,
    };
    const traffic = { up: 0, down: 0 };
    const store = await CompactStateStore.fromSnapshot(`virtual:${a.clientId}`, a.state);
    let committed = false;
    /** Set once this round's training is done: only this round's upload is where a device may vanish. */
    let trained = false;
    let abandoned: 'dropout' | 'deadline' | null = null;
    let runtime: ClientRuntime | undefined = undefined;
    const decideAbandon = (): 'dropout' | 'deadline' | null => {
      if (a.dropout) return 'dropout';
      const d = a.deadline;
      if (d && d.transferSeconds + report.computeMs / 1000 / d.speed > d.seconds) return 'deadline';
      return null;
    };
    // A secure round's masked input reports no upload progress, so there a device vanishes right after
    // training, before sending it: the dropout secure aggregation is built to survive (its masks are
    // reconstructed from the other clients' shares).
    const secure = this.scenario.privacy.secureAggregation !== undefined;
    // Leaves on a later task of the event loop: the runtime binds its connection right after logging.
    const leave = (reason: string) => setImmediate(() => runtime?.stop(reason));
    let rejoining = false;
    const logger: ClientLogger = {
      log: (_level, event, fields) => {
        // A client that did not know the run joins twice the first time: unsigned, then with its signatures
        // (it logs that right after 'joined'); registration is done at the signed join.
        if (event === 'rejoin-with-signatures') rejoining = true;
        if (event === 'joined' && a.register) {
          rejoining = false;
          setImmediate(() => {
            if (!rejoining) runtime?.stop('registered');
          });
        }
        if (
          event === 'global-state' &&
          a.coordinatorRound !== undefined &&
          Number(fields?.round ?? 0) >= a.coordinatorRound
        )
          leave('round over');
        if (event === 'round-trained' && fields) {
          trained = true;
          report.computeMs = Number(fields.computeMs ?? 0);
          report.trainLoss = (fields.trainLoss as number | null) ?? null;
          report.globalValLoss = (fields.globalValLoss as number | null) ?? null;
          report.personalValLoss = (fields.personalValLoss as number | null) ?? null;
          report.globalValAccuracy = (fields.globalValAccuracy as number | undefined) ?? null;
          report.personalValAccuracy = (fields.personalValAccuracy as number | undefined) ?? null;
          if (secure && !abandoned) {
            abandoned = decideAbandon();
            if (abandoned) runtime?.stop(`simulated ${abandoned}`);
          }
        }
      },
    };
    // Client-side DP noise (distributed / local placement) from the run seed: reproducible, like everything
    // in a simulation (and, like the coordinator's seeded noise there, protecting nothing outside it).
    const noiseSource = this.scenario.privacy.dp
      ? seededGaussianSource(new Rng(this.scenario.seed).fork(`dp-noise:${a.clientId}:${a.round ?? 0}`))
      : undefined;
    const data = this.data(a.clientId);
    report.validationTokens = data.validationTokens;
    runtime = new ClientRuntime({
      connector: {
        label: this.options.serverLabel,
        connect: async () => countingLink(await connect(), traffic),
      },
      authToken: this.options.token,
      clientName: a.clientId,
      store,
      run: this.run,
      logger,
      maxConnectAttempts: 5,
      backoff: { initialMs: 20, maxMs: 500 },
      ...(a.maxRank !== undefined ? { maxRank: a.maxRank } : {}),
      ...(noiseSource ? { noiseSource } : {}),
      createTrainer: async (run) => {
        const trainer = await ClientTrainer.create({
          run,
          data,
          ...(this.options.baseWeights ? { baseWeights: this.options.baseWeights } : {}),
          label: a.clientId,
        });
        this.liveTrainers++;
        this.peakTrainers = Math.max(this.peakTrainers, this.liveTrainers);
        const train = trainer.train.bind(trainer);
        trainer.train = (...args) => this.trainLock.run(() => train(...args));
        return trainer;
      },
      // The first acknowledged chunk is where a device that drops out (or runs out of time) vanishes: its
      // training happened, part of its upload was sent, and the coordinator never gets its commit.
      onUploadProgress: () => {
        if (abandoned || committed || !trained) return;
        abandoned = decideAbandon();
        if (abandoned) runtime?.stop(`simulated ${abandoned}`);
      },
      onRoundCommitted: () => {
        committed = true;
      },
    });
    this.active.add(runtime);
    try {
      await runtime.run();
    } catch (err) {
      if (!abandoned) {
        report.outcome = 'error';
        report.error = (err as Error).message;
        // The coordinator waits for every participant to join: without this one the round never starts.
        this.abort(`client ${a.clientId} failed`);
      }
    } finally {
      this.active.delete(runtime);
      if (runtime.currentTrainer) this.liveTrainers--;
      runtime.dispose();
    }
    if (abandoned) report.outcome = abandoned;
    else if (!committed && !a.register && report.outcome === 'completed') {
      report.outcome = 'error';
      report.error = 'the round ended without this client’s commit';
    }
    report.bytesUp = traffic.up;
    report.bytesDown = traffic.down;
    if (abandoned) await store.forgetUpload();
    return { ...report, state: await store.snapshot() };
  }
}
