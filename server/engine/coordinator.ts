/**
 * The coordinator, composed of the engine's parts (docs/engine.md): `sessions` (admission, tokens,
 * signatures), `transfers` (global and fold downloads), `round-lifecycle` (open, arm, quorum, close,
 * broadcast, finish), `checkpointing` (persist and restore), `fold-history`, and two plug points: the
 * update protocol (server/update-protocols: plain or secure aggregation, from the config) and participation
 * (server/participation: eligibility policy and hook; the strategy's sampler by stable client id).
 *
 * Transport-agnostic: it consumes `FrameLink`s (`accept(link)`), so the same engine runs behind socket.io and
 * in-process. Every message is untrusted: each failure becomes an `Error` frame with a protocol code plus one
 * structured log line, and neither crashes the coordinator nor touches the aggregate.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LinkSchedule } from '../../shared/adapters/link-schedule.ts';
import { FedpeftError } from '../../shared/errors.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { HeldVector } from '../../shared/privacy/secagg/server.ts';
import type { FrameLink } from '../../shared/wire/frame-link.ts';
import { MAX_FRAME_BYTES } from '../../shared/wire/limits.ts';
import type { Frame, MessageBody } from '../../shared/wire/messages.ts';
import { Peer } from '../../shared/wire/peer.ts';
import { CheckpointStore } from '../checkpoint-store.ts';
import type { ClientSession } from '../client-session.ts';
import type { CoordinatorConfig } from '../config.ts';
import { JoinTokens } from '../join-tokens.ts';
import { silentLogger, type Logger } from '../logger.ts';
import type { MethodState } from '../method-state.ts';
import { MetricsLog, type RoundSummary } from '../metrics-log.ts';
import { Eligibility, type EligibilityHook } from '../participation/eligibility.ts';
import { withPrivacy } from '../privacy/privacy-config.ts';
import { RoundJournal } from '../round-journal.ts';
import { createStrategy } from '../strategies/create-strategy.ts';
import { createUpdateProtocol } from '../update-protocols/select.ts';
import type { UpdateProtocol } from '../update-protocols/update-protocol.ts';
import { inboundRateOf } from '../limits/inbound-rate.ts';
import { RateLimitedLogger } from '../limits/rate-limited-logger.ts';
import { SessionLimits } from '../limits/session-limits.ts';
import { UploadAdmission } from '../limits/upload-admission.ts';
import { Checkpointing } from './checkpointing.ts';
import { nodeStorageFs, type StorageFs } from '../durability/durable-fs.ts';
import { retryingMetrics } from '../durability/retrying-metrics.ts';
import { retryStorage, StorageHealth, type StorageStatus } from '../durability/storage-health.ts';
import { RunState, TaskQueue, type CoordinatorPhase } from './engine-state.ts';
import { FoldHistory } from './fold-history.ts';
import { RoundLifecycle } from './round-lifecycle.ts';
import { SessionRegistry } from './sessions.ts';
import { Transfers } from './transfers.ts';
import { sendWelcome } from './welcome.ts';
import { toProtocolError } from './update-intake.ts';

export type { CoordinatorPhase } from './engine-state.ts';

export interface CoordinatorOptions {
  config: CoordinatorConfig;
  /** What the run's method shares and how it aggregates (`describeMethod`). */
  method: MethodState;
  runId: string;
  runDir: string;
  logger?: Logger;
  /** Continue from the last checkpoint and journal in `runDir`. */
  resume?: boolean;
  /** Secure aggregation audit hook: every vector the coordinator holds in a secure round (tests, audits). */
  onSecAggVectorHeld?: (held: HeldVector) => void;
  /**
   * Availability hook (a simulator's device schedule): asked, after the `participation.eligibility` policy,
   * whether a connected client may be sampled for `roundId`. `clientId` is the stable client id.
   */
  eligibility?: EligibilityHook;
  /** The filesystem the journal and checkpoints are written through (fault-injection tests). */
  storageFs?: StorageFs;
  /**
   * Sample among every signed session, connected or not, and give a sampled one until the deadline to
   * connect: for a program that wakes the clients it hosts when they are sampled (the simulator's virtual
   * clients). A deployment leaves it off (only connected clients are sampled).
   */
  wakeable?: boolean;
}

export interface CoordinatorStatus {
  runId: string;
  phase: CoordinatorPhase;
  method: string;
  model: string;
  completedRounds: number;
  totalRounds: number;
  clients: { connected: number; sessions: number };
  activeRound: {
    id: number;
    sampled: number;
    committed: number;
    dropped: number;
    deadlineInMs: number;
  } | null;
  lastRound: RoundSummary | null;
  /** Whether durable writes currently succeed, and the failure if not (server/durability/storage-health.ts). */
  storage: StorageStatus;
}

export class Coordinator {
  readonly tokens: JoinTokens;
  readonly runId: string;
  readonly runDir: string;
  private readonly config: CoordinatorConfig;
  private readonly method: MethodState;
  private readonly logger: Logger;
  /** Log lines written on behalf of one client, rate-limited (server/limits/rate-limited-logger.ts). */
  private readonly clientLog: RateLimitedLogger;
  private readonly uploads: UploadAdmission;
  private readonly sessionLimits: SessionLimits;
  private readonly state: RunState;
  private readonly queue: TaskQueue;
  private readonly protocol: UpdateProtocol;
  private readonly sessions: SessionRegistry;
  private readonly transfers: Transfers;
  private readonly folds: FoldHistory;
  private readonly lifecycle: RoundLifecycle;
  private readonly checkpointing: Checkpointing;
  private readonly storage: StorageHealth;
  private readonly roundListeners: Array<(summary: RoundSummary) => void> = [];
  private finishedResolve!: () => void;
  private readonly finishedPromise: Promise<void>;

  private constructor(options: CoordinatorOptions) {
    const config = (this.config = options.config);
    const method = (this.method = options.method);
    this.runId = options.runId;
    this.runDir = options.runDir;
    const logger = (this.logger = options.logger ?? silentLogger);
    this.clientLog = new RateLimitedLogger(logger, config.limits.logLinesPerSecond);
    this.tokens = new JoinTokens(config.auth.tokens);
    const strategy = withPrivacy(
      createStrategy(config.strategy, { seed: config.run.seed, rules: method.rules }),
      config.privacy,
      {
        runId: this.runId,
        seed: config.run.seed,
        ...(options.onSecAggVectorHeld ? { onVectorHeld: options.onSecAggVectorHeld } : {}),
      },
    );
    this.protocol = createUpdateProtocol(config, strategy);
    this.protocol.checkMethod(method);
    const schedule = method.chained ? new LinkSchedule(config.method.roundsPerLink) : null;
    this.state = new RunState(new Map(method.initialShared));
    this.queue = new TaskQueue(logger);
    this.sessions = new SessionRegistry(this.runDir, config, method, this.tokens, logger);
    const activeRound = () => this.state.active;
    this.uploads = new UploadAdmission({
      config,
      method,
      plainUpdates: this.protocol.name === 'plain',
      activeRound,
      lastClosed: () => this.state.lastClosed,
      sessions: () => this.sessions.sessions.values(),
    });
    this.sessionLimits = new SessionLimits({
      sessions: this.sessions.sessions,
      limits: config.limits,
      activeRound,
      logger,
    });
    const storage = (this.storage = new StorageHealth(logger));
    const fs = options.storageFs ?? nodeStorageFs;
    this.folds = new FoldHistory(this.runDir, method.foldKind, schedule, config.transport.chunkBytes, {
      fs,
      health: storage,
      stopped: () => this.state.phase === 'stopped',
    });
    this.transfers = new Transfers(config, this.folds, logger);
    this.transfers.publishGlobal(0, this.state.global);
    const checkpoints = new CheckpointStore(this.runDir, config.checkpoint.keep, {
      log: (line) => logger.log('warn', 'checkpoint-fallback', { message: line }),
      fs,
    });
    const journal = config.checkpoint.journal
      ? new RoundJournal(this.runDir, {
          fs,
          health: storage,
          warn: (message) => logger.log('error', 'journal-damaged', { message }),
        })
      : null;
    const common = {
      runId: this.runId,
      config,
      method,
      logger,
      state: this.state,
      strategy,
      schedule,
      journal,
      sessions: this.sessions,
      transfers: this.transfers,
      folds: this.folds,
    };
    this.checkpointing = new Checkpointing({ ...common, checkpoints });
    this.lifecycle = new RoundLifecycle({
      ...common,
      queue: this.queue,
      protocol: this.protocol,
      metrics: retryingMetrics(
        new MetricsLog(join(this.runDir, 'metrics.jsonl')),
        storage,
        () => this.state.phase === 'stopped',
      ),
      eligibility: new Eligibility(config.participation.eligibility, options.eligibility),
      wakeable: options.wakeable ?? false,
      // A failed checkpoint write (disk full, read-only) is retried with backoff until the disk takes it.
      checkpoint: () =>
        retryStorage(storage, 'the checkpoint', () => this.checkpointing.save(), {
          stopped: () => this.state.phase === 'stopped',
        }),
      onClosed: (summary) => {
        for (const l of this.roundListeners) l(summary);
      },
      onFinished: () => {
        this.tokens.stop();
        this.finishedResolve();
      },
    });
    this.finishedPromise = new Promise((resolve) => (this.finishedResolve = resolve));
    this.tokens.onRevoke((d) => this.sessions.endSessionsOf(d));
  }

  /** Builds a coordinator; with `resume`, restores the last checkpoint, the sessions and the open round. */
  static async create(options: CoordinatorOptions): Promise<Coordinator> {
    const c = new Coordinator(options);
    await mkdir(c.runDir, { recursive: true });
    if (options.config.auth.tokenFile) {
      c.tokens.watchFile(options.config.auth.tokenFile, (count, error) =>
        c.logger.log(error ? 'warn' : 'info', 'tokens-reloaded', { count, error: error?.message }),
      );
    }
    if (options.resume) await c.checkpointing.restore(c.lifecycle);
    return c;
  }

  /** Takes a new connection (any transport). */
  accept(link: FrameLink): void {
    const peer = new Peer({
      side: 'coordinator',
      link,
      maxFrameBytes: MAX_FRAME_BYTES,
      inboundRate: inboundRateOf(this.config.limits),
      onEvent: (event) => {
        if (event.type === 'protocol-error') {
          this.clientLog.client('warn', 'protocol-error', link.label, {
            peer: link.label,
            session: this.sessions.of(peer)?.id,
            code: event.code,
            direction: event.direction,
            message: event.message.slice(0, 300),
          });
        }
      },
    });
    this.sessions.peers.add(peer);
    if (this.state.over) {
      peer.send({ kind: 'goodbye', body: { reason: `run ${this.runId} is over`, runComplete: true } });
      peer.close('run over');
      return;
    }
    const joinTimeout = setTimeout(
      () => {
        if (!this.sessions.of(peer)) peer.close('no join message in time');
      },
      Math.max(10_000, 3 * this.config.transport.heartbeatIntervalMs),
    );
    joinTimeout.unref?.();
    peer.onMessage((frame) => this.handle(peer, frame));
    peer.onClose((reason) => {
      clearTimeout(joinTimeout);
      const session = this.sessions.release(peer);
      if (!session) return;
      this.logger.log('info', 'client-disconnected', { session: session.id, reason });
      this.lifecycle.onDisconnect(session);
    });
  }

  /** Starts running rounds as soon as enough clients are connected. */
  start(): void {
    const state = this.state;
    if (state.started) return;
    state.started = true;
    if (state.completed >= this.config.run.rounds) {
      this.queue.enqueue(() => this.lifecycle.finish());
      return;
    }
    if (state.active) this.lifecycle.armRound(state.active);
    else this.queue.enqueue(() => this.lifecycle.tryStartRound());
  }

  /**
   * Eligibility changed outside any join (the program's hook answers differently now): sample again if no
   * round is open. Resolves once that attempt ran.
   */
  async participationChanged(): Promise<void> {
    if (this.state.started && !this.state.active) this.queue.enqueue(() => this.lifecycle.tryStartRound());
    await this.queue.drained();
  }

  /** Stable client ids sampled for the open round (empty between rounds). */
  sampledClients(): string[] {
    const r = this.state.active;
    if (!r) return [];
    const ids = this.sessions.stableIds();
    return [...r.sampled].map((sessionId) => ids.get(sessionId) ?? sessionId);
  }

  onRound(listener: (summary: RoundSummary) => void): void {
    this.roundListeners.push(listener);
  }

  /** Resolves when every round has run (or `stop` was called). */
  whenFinished(): Promise<void> {
    return this.finishedPromise;
  }

  globalState(): HostTensorMap {
    return this.state.global;
  }

  get completedRounds(): number {
    return this.state.completed;
  }

  status(): CoordinatorStatus {
    const r = this.state.active;
    return {
      runId: this.runId,
      phase: this.state.phase,
      method: this.method.method,
      model: this.method.model,
      completedRounds: this.state.completed,
      totalRounds: this.config.run.rounds,
      clients: { connected: this.sessions.connected().length, sessions: this.sessions.sessions.size },
      activeRound: r
        ? {
            id: r.id,
            sampled: r.sampled.size,
            committed: r.committed.size,
            dropped: r.dropped.size,
            deadlineInMs: Math.max(0, r.deadlineAt - Date.now()),
          }
        : null,
      lastRound: this.state.lastSummary,
      storage: this.storage.snapshot(),
    };
  }

  /** Stops without finishing the run (checkpoint and journal stay, so `--resume` continues). */
  async stop(reason = 'coordinator shutting down'): Promise<void> {
    const state = this.state;
    if (state.phase !== 'finished') state.phase = 'stopped';
    if (state.active) {
      clearTimeout(state.active.timer);
      for (const t of state.active.dropTimers.values()) clearTimeout(t);
      state.active.collector.dispose();
    }
    this.tokens.stop();
    for (const peer of [...this.sessions.peers]) {
      peer.send({ kind: 'goodbye', body: { reason, runComplete: state.phase === 'finished' } });
      peer.close(reason);
    }
    await this.queue.drained();
    this.finishedResolve();
  }

  private handle(peer: Peer, frame: Frame): void | Promise<void> {
    const { message } = frame;
    const session = this.sessions.of(peer);
    if (message.kind === 'join') {
      if (session) throw new FedpeftError('UNEXPECTED_MESSAGE', 'this connection has already joined');
      return this.handleJoin(peer, frame, message.body);
    }
    if (message.kind === 'heartbeat' || message.kind === 'error') return;
    if (!session) {
      throw new FedpeftError('UNEXPECTED_MESSAGE', `send join before ${message.kind} messages`);
    }
    if (this.protocol.messageKinds.has(message.kind)) {
      this.queue.enqueue(() => {
        const r = this.state.active;
        if (r) return r.collector.handle(session, frame, message);
        this.protocol.handleOutsideRound(session, frame, message, this.lifecycle.protocolHost);
      });
      return;
    }
    switch (message.kind) {
      case 'chunkAck':
        return this.transfers.handleAck(session, message.body);
      case 'foldRequest':
        return this.answerFoldRequest(session, frame, message.body);
      case 'metrics':
        this.recordReport(session, message.body);
        return;
      case 'goodbye':
        this.logger.log('info', 'client-goodbye', {
          session: session.id,
          reason: message.body.reason.slice(0, 200),
        });
        peer.close('client said goodbye');
        return;
      case 'transferCancel':
        // Idempotent: the upload's buffer is released and its id may not be used again.
        session.inbox.abandon(message.body.transferId);
        return;
      case 'transferManifest':
      case 'tensorChunk':
        return; // handled by the session's inbox inside Peer
      default:
        throw new FedpeftError('UNEXPECTED_MESSAGE', `${message.kind} is not expected here`);
    }
  }

  private async handleJoin(peer: Peer, frame: Frame, join: MessageBody<'join'>): Promise<void> {
    try {
      const admission = await this.sessions.admit(peer, join);
      if (!admission.resumed) {
        this.sessionLimits.expire();
        this.sessionLimits.enforceCap(admission.session);
      }
      const session = admission.session;
      session.inbox.admitWith((manifest) => this.uploads.admit(session, manifest));
      this.lifecycle.cancelDrop(admission.session);
      sendWelcome(peer, frame, admission, {
        runId: this.runId,
        config: this.config,
        method: this.method,
        currentRound: this.state.active?.id ?? 0,
        heartbeatRound: () => this.state.active?.id ?? this.state.completed,
      });
      this.logger.log('info', 'client-joined', {
        session: admission.session.id,
        client: admission.session.record.clientName.slice(0, 64),
        resumed: admission.resumed,
        signed: admission.signed,
        backend: join.capabilities.backend,
        lastCommittedRound: join.lastCommittedRound,
      });
      // Not sampled, not instructed, until it joins again with its signature.
      if (admission.signed) this.lifecycle.onSignedJoin(admission.session, join.resumeDownloads);
    } catch (err) {
      const e = toProtocolError(err);
      this.logger.log('warn', 'join-refused', {
        peer: peer.link.label,
        code: e.code,
        message: e.message.slice(0, 300),
      });
      peer.sendError(e, { inReplyTo: frame.requestId });
      if (e.code === 'UNAUTHENTICATED' || e.code === 'RATE_LIMITED')
        setTimeout(() => peer.close('join refused'), 50).unref?.();
    }
  }

  private answerFoldRequest(session: ClientSession, frame: Frame, request: MessageBody<'foldRequest'>): void {
    try {
      session.peer?.send(this.folds.answer(request), { inReplyTo: frame.requestId });
    } catch (err) {
      const e = toProtocolError(err);
      this.logger.log('warn', 'fold-request-refused', { session: session.id, code: e.code });
      session.peer?.sendError(e, { inReplyTo: frame.requestId });
    }
  }

  private recordReport(session: ClientSession, m: MessageBody<'metrics'>): void {
    const r = this.state.active;
    if (!r || m.roundId !== r.id || !r.sampled.has(session.id)) return;
    r.reports.set(session.id, {
      globalValLoss: m.globalValLoss,
      personalValLoss: m.personalValLoss,
      trainLoss: m.trainLoss,
    });
  }
}
