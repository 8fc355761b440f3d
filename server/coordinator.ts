/**
 * The coordinator: admits clients (join tokens, sessions that survive reconnects, derived-state signatures),
 * runs rounds (sampling through the strategy, per-round deadline, quorum, stragglers dropped, streaming
 * aggregation by the method's declared rules, c³LA link schedule), journals every accepted update before
 * its receipt, checkpoints atomically after every round, and reports per-round metrics.
 *
 * Transport-agnostic: it consumes `FrameLink`s (`accept(link)`), so the same engine runs behind socket.io
 * (`transport/socket-io-server.ts`) and in-process (`transport/in-process.ts`, the fleet simulator). Every
 * message is untrusted: each failure becomes an `Error` frame with a protocol code plus one structured log
 * line, and neither crashes the coordinator nor touches the aggregate. State changes that must not interleave
 * (commits, round start and close) run one at a time on a promise queue.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { LinkSchedule } from '../shared/adapters/link-schedule.ts';
import { FedpeftError, isFedpeftError } from '../shared/errors.ts';
import type { HostTensorMap } from '../shared/tensor/host-tensor.ts';
import { OutgoingTransfer } from '../shared/wire/chunking.ts';
import type { FrameLink } from '../shared/wire/frame-link.ts';
import { MAX_FRAME_BYTES } from '../shared/wire/limits.ts';
import { TaskKind, type ChunkAck, type Frame, type MessageBody } from '../shared/wire/messages.ts';
import { Peer } from '../shared/wire/peer.ts';
import { decodeHostTensor } from '../shared/wire/tensor-codec.ts';
import { ClientSession } from './client-session.ts';
import { CheckpointStore, type SessionRecord } from './checkpoint-store.ts';
import type { CoordinatorConfig } from './config.ts';
import { JoinTokens } from './join-tokens.ts';
import { silentLogger, type Logger } from './logger.ts';
import type { MethodState } from './method-state.ts';
import { MetricsLog, meanOf, type RoundSummary } from './metrics-log.ts';
import { RoundJournal } from './round-journal.ts';
import type { ActiveRound, ClosedRound } from './round-state.ts';
import { createStrategy } from './strategies/create-strategy.ts';
import { withPrivacy } from './privacy/privacy-config.ts';
import { SecureAggregation, isSecureRound, type SecAggClientRecord } from './privacy/secure-aggregation.ts';
import type { HeldVector } from '../shared/privacy/secagg/server.ts';
import type { Strategy } from './strategies/strategy.ts';
import { buildContribution, toProtocolError } from './update-intake.ts';

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
}

export type CoordinatorPhase = 'waiting-for-clients' | 'training' | 'finished' | 'stopped';

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
}

const SESSIONS_FILE = 'sessions.json';

export class Coordinator {
  readonly tokens: JoinTokens;
  readonly runId: string;
  readonly runDir: string;
  private readonly config: CoordinatorConfig;
  private readonly method: MethodState;
  private readonly logger: Logger;
  private readonly strategy: Strategy;
  private readonly schedule: LinkSchedule | null;
  private readonly checkpoints: CheckpointStore;
  private readonly journal: RoundJournal | null;
  private readonly metrics: MetricsLog;
  private readonly sessions = new Map<string, ClientSession>();
  private readonly peerSessions = new Map<Peer, ClientSession>();
  private readonly peers = new Set<Peer>();
  private global: HostTensorMap;
  private globalTransfer: OutgoingTransfer;
  private completed = 0;
  private active: ActiveRound | undefined;
  private lastClosed: ClosedRound | undefined;
  private lastSummary: RoundSummary | null = null;
  private signatureReference: Float32Array | null = null;
  /** The link the global's tensors belong to (chained methods): a round of a later link starts from a reset. */
  private globalLink = 0;
  private phase: CoordinatorPhase = 'waiting-for-clients';
  private started = false;
  private waitingLogged = false;
  private queue: Promise<void> = Promise.resolve();
  private readonly roundListeners: Array<(summary: RoundSummary) => void> = [];
  private finishedResolve!: () => void;
  private readonly finishedPromise: Promise<void>;

  private constructor(options: CoordinatorOptions) {
    this.config = options.config;
    this.method = options.method;
    this.runId = options.runId;
    this.runDir = options.runDir;
    this.logger = options.logger ?? silentLogger;
    this.tokens = new JoinTokens(this.config.auth.tokens);
    this.strategy = withPrivacy(
      createStrategy(this.config.strategy, { seed: this.config.run.seed, rules: this.method.rules }),
      this.config.privacy,
      {
        runId: this.runId,
        seed: this.config.run.seed,
        ...(options.onSecAggVectorHeld ? { onVectorHeld: options.onSecAggVectorHeld } : {}),
      },
    );
    // Refuse a method secure aggregation cannot sum (HetLoRA, FLoRA) at start, not in the first round.
    if (this.strategy instanceof SecureAggregation) this.strategy.checkRules(this.method.rules);
    this.schedule = this.method.chained ? new LinkSchedule(this.config.method.roundsPerLink) : null;
    this.checkpoints = new CheckpointStore(this.runDir, this.config.checkpoint.keep);
    this.journal = this.config.checkpoint.journal ? new RoundJournal(this.runDir) : null;
    this.metrics = new MetricsLog(join(this.runDir, 'metrics.jsonl'));
    this.global = new Map(this.method.initialShared);
    this.globalTransfer = this.makeGlobalTransfer();
    if (this.config.signatures.reference === 'coordinator' && this.method.signature.length > 0) {
      this.signatureReference = this.method.signature;
    }
    this.finishedPromise = new Promise((resolve) => (this.finishedResolve = resolve));
    this.tokens.onRevoke((d) => this.endSessionsOf(d));
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
    if (options.resume) await c.restore();
    return c;
  }

  // ------------------------------------------------------------------------------------------------------
  // Public surface

  /** Takes a new connection (any transport). */
  accept(link: FrameLink): void {
    const peer = new Peer({
      side: 'coordinator',
      link,
      maxFrameBytes: MAX_FRAME_BYTES,
      onEvent: (event) => {
        if (event.type === 'protocol-error') {
          this.logger.log('warn', 'protocol-error', {
            peer: link.label,
            session: this.peerSessions.get(peer)?.id,
            code: event.code,
            direction: event.direction,
            message: event.message.slice(0, 300),
          });
        }
      },
    });
    this.peers.add(peer);
    if (this.phase === 'finished' || this.phase === 'stopped') {
      peer.send({ kind: 'goodbye', body: { reason: `run ${this.runId} is over`, runComplete: true } });
      peer.close('run over');
      return;
    }
    const joinTimeout = setTimeout(
      () => {
        if (!this.peerSessions.has(peer)) peer.close('no join message in time');
      },
      Math.max(10_000, 3 * this.config.transport.heartbeatIntervalMs),
    );
    joinTimeout.unref?.();
    peer.onMessage((frame) => this.handle(peer, frame));
    peer.onClose((reason) => {
      clearTimeout(joinTimeout);
      this.peers.delete(peer);
      const session = this.peerSessions.get(peer);
      this.peerSessions.delete(peer);
      if (session && session.peer === peer) {
        session.detach();
        this.logger.log('info', 'client-disconnected', { session: session.id, reason });
        this.scheduleDrop(session);
        // The unmask phase waits for connected survivors only: a disconnect may end it.
        const r = this.active;
        if (r?.secure) this.enqueue(() => this.advanceSecure(r));
      }
    });
  }

  /** Starts running rounds as soon as enough clients are connected. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.completed >= this.config.run.rounds) {
      this.enqueue(() => this.finish());
      return;
    }
    if (this.active) this.armRound(this.active);
    else this.enqueue(() => this.tryStartRound());
  }

  onRound(listener: (summary: RoundSummary) => void): void {
    this.roundListeners.push(listener);
  }

  /** Resolves when every round has run (or `stop` was called). */
  whenFinished(): Promise<void> {
    return this.finishedPromise;
  }

  globalState(): HostTensorMap {
    return this.global;
  }

  get completedRounds(): number {
    return this.completed;
  }

  status(): CoordinatorStatus {
    const r = this.active;
    return {
      runId: this.runId,
      phase: this.phase,
      method: this.method.method,
      model: this.method.model,
      completedRounds: this.completed,
      totalRounds: this.config.run.rounds,
      clients: {
        connected: [...this.sessions.values()].filter((s) => s.connected).length,
        sessions: this.sessions.size,
      },
      activeRound: r
        ? {
            id: r.id,
            sampled: r.sampled.size,
            committed: r.committed.size,
            dropped: r.dropped.size,
            deadlineInMs: Math.max(0, r.deadlineAt - Date.now()),
          }
        : null,
      lastRound: this.lastSummary,
    };
  }

  /** Stops without finishing the run (checkpoint and journal stay, so `--resume` continues). */
  async stop(reason = 'coordinator shutting down'): Promise<void> {
    if (this.phase !== 'finished') this.phase = 'stopped';
    if (this.active) {
      clearTimeout(this.active.timer);
      for (const t of this.active.dropTimers.values()) clearTimeout(t);
    }
    this.tokens.stop();
    for (const peer of [...this.peers]) {
      peer.send({ kind: 'goodbye', body: { reason, runComplete: this.phase === 'finished' } });
      peer.close(reason);
    }
    await this.queue;
    this.finishedResolve();
  }

  // ------------------------------------------------------------------------------------------------------
  // Message handling

  private handle(peer: Peer, frame: Frame): void | Promise<void> {
    const { message } = frame;
    const session = this.peerSessions.get(peer);
    if (message.kind === 'join') {
      if (session) throw new FedpeftError('UNEXPECTED_MESSAGE', 'this connection has already joined');
      return this.handleJoin(peer, frame, message.body);
    }
    if (message.kind === 'heartbeat' || message.kind === 'error') return;
    if (!session) {
      throw new FedpeftError('UNEXPECTED_MESSAGE', `send join before ${message.kind} messages`);
    }
    switch (message.kind) {
      case 'updateCommit':
        this.enqueue(() => this.handleCommit(session, frame, message.body));
        return;
      case 'chunkAck':
        return this.handleDownloadRequest(session, message.body);
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
      case 'transferManifest':
      case 'tensorChunk':
        return; // handled by the session's inbox inside Peer
      case 'secaggAdvertiseKeys':
      case 'secaggShareKeys':
      case 'secaggUnmaskResponse':
        this.enqueue(() =>
          this.handleSecAgg(session, frame, { kind: message.kind, body: message.body } as SecAggClientRecord),
        );
        return;
      case 'secaggMaskedInput':
        this.enqueue(() => this.handleMaskedInput(session, frame, message.body));
        return;
      default:
        throw new FedpeftError('UNEXPECTED_MESSAGE', `${message.kind} is not expected here`);
    }
  }

  private async handleJoin(peer: Peer, frame: Frame, join: MessageBody<'join'>): Promise<void> {
    try {
      const admitted = this.tokens.verify(join.authToken);
      const { supportedMethods } = join.capabilities;
      if (supportedMethods.length > 0 && !supportedMethods.includes(this.method.method)) {
        throw new FedpeftError(
          'CAPABILITY_MISMATCH',
          `this run uses method '${this.method.method}'; the client supports ${supportedMethods.join(', ')}`,
        );
      }
      const signed = this.checkSignature(join);
      let session: ClientSession;
      let token: string;
      let resumed = false;
      if (join.resumeSessionId) {
        const known = this.sessions.get(join.resumeSessionId);
        if (!known) {
          throw new FedpeftError(
            'UNKNOWN_SESSION',
            `session ${join.resumeSessionId.slice(0, 64)} is unknown to this coordinator; join again without resume_session_id`,
          );
        }
        if (!known.verifyToken(join.resumeSessionToken)) {
          throw new FedpeftError('UNAUTHENTICATED', 'the session token does not match this session');
        }
        session = known;
        token = join.resumeSessionToken;
        resumed = true;
      } else {
        const created = ClientSession.create(
          join.clientName || admitted.name,
          admitted.digest,
          this.inboxLimits(),
        );
        session = created.session;
        token = created.token;
        this.sessions.set(session.id, session);
        await this.persistSessions();
      }
      this.acceptSignatureReference(join);
      session.capabilities = join.capabilities;
      session.signed = signed;
      const previous = session.peer;
      if (previous && previous !== peer) this.peerSessions.delete(previous);
      session.bind(peer);
      this.peerSessions.set(peer, session);
      this.cancelDrop(session);
      peer.startHeartbeat(this.config.transport.heartbeatIntervalMs, () => ({
        roundId: this.active?.id ?? this.completed,
      }));
      const t = this.config.transport;
      peer.send(
        {
          kind: 'welcome',
          body: {
            sessionId: session.id,
            sessionToken: token,
            run: {
              runId: this.runId,
              method: this.method.method,
              methodConfigJson: JSON.stringify(this.method.methodConfig),
              model: this.method.model,
              modelConfigJson: JSON.stringify(this.method.modelConfig),
              seed: this.config.run.seed,
              baseSha256: this.method.base?.sha256 ?? '',
              baseBytes: this.method.base?.bytes ?? 0,
            },
            currentRound: this.active?.id ?? 0,
            limits: {
              chunkBytes: t.chunkBytes,
              maxFrameBytes: MAX_FRAME_BYTES,
              maxTransferBytes: t.maxTransferBytes,
              maxInFlightChunks: t.maxInFlightChunks,
              heartbeatIntervalMs: t.heartbeatIntervalMs,
            },
            resumed,
            resumeUploads: session.inbox.pendingAcks(),
          },
        },
        { inReplyTo: frame.requestId },
      );
      this.logger.log('info', 'client-joined', {
        session: session.id,
        client: session.record.clientName.slice(0, 64),
        resumed,
        signed,
        backend: join.capabilities.backend,
        lastCommittedRound: join.lastCommittedRound,
      });
      const r = this.active;
      if (!signed) return; // not sampled, not instructed, until it joins again with its signature
      if (r && r.sampled.has(session.id) && !r.committed.has(session.id) && !r.dropped.has(session.id)) {
        const resumeAck = join.resumeDownloads.find(
          (a) => a.transferId === this.globalTransfer.manifest.transferId,
        );
        this.sendInstruction(r, session, resumeAck);
      } else if (!r && this.started) {
        this.enqueue(() => this.tryStartRound());
      }
    } catch (err) {
      const e = toProtocolError(err);
      this.logger.log('warn', 'join-refused', {
        peer: peer.link.label,
        code: e.code,
        message: e.message.slice(0, 300),
      });
      peer.sendError(e, { inReplyTo: frame.requestId });
      if (e.code === 'UNAUTHENTICATED') setTimeout(() => peer.close('join refused'), 50).unref?.();
    }
  }

  /**
   * True when the join proves the client's derived state (or the method derives none); false when it carries
   * no signature (a new client that learns the run from the Welcome: admitted, not sampled); throws
   * SIGNATURE_MISMATCH for a signature that differs from the run's reference.
   */
  private checkSignature(join: MessageBody<'join'>): boolean {
    if (this.method.signature.length === 0) return true;
    const sig = join.signatures.find((s) => s.method === this.method.method);
    if (!sig) return false;
    let value: Float32Array;
    try {
      value = decodeHostTensor(sig.value.spec, sig.value.data, { maxTensorBytes: 64 * 1024 }).data;
    } catch (err) {
      throw new FedpeftError('SIGNATURE_MISMATCH', `unreadable signature: ${(err as Error).message}`);
    }
    const ref = this.signatureReference;
    if (!ref) return true;
    if (value.length !== ref.length) {
      throw new FedpeftError(
        'SIGNATURE_MISMATCH',
        `signature of '${this.method.method}' has ${value.length} values; the run's reference has ${ref.length} ` +
          `(different method config or model?)`,
      );
    }
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(value[i]! - ref[i]!);
      diff = d > diff || Number.isNaN(d) ? d : diff;
      scale = Math.max(scale, Math.abs(ref[i]!));
    }
    const tolerance = this.config.signatures.tolerance * Math.max(1, scale);
    if (!(diff <= tolerance)) {
      throw new FedpeftError(
        'SIGNATURE_MISMATCH',
        `derived state of '${this.method.method}' differs from the run's reference by ${diff.toPrecision(3)} ` +
          `(tolerance ${tolerance.toPrecision(3)}): this client's base model weights or run seed differ from the ` +
          `other clients'. Use model '${this.method.model}' with the run seed ${this.config.run.seed}.`,
      );
    }
    return true;
  }

  /** The first accepted client's signature becomes the reference (persisted with the next checkpoint). */
  private acceptSignatureReference(join: MessageBody<'join'>): void {
    if (this.signatureReference || this.method.signature.length === 0) return;
    const sig = join.signatures.find((s) => s.method === this.method.method);
    if (!sig) return;
    this.signatureReference = decodeHostTensor(sig.value.spec, sig.value.data).data.slice();
  }

  private handleDownloadRequest(session: ClientSession, ack: ChunkAck): void {
    // An ack with no send in progress asks for (the rest of) a download: only the current global state.
    if (ack.complete) return;
    if (ack.transferId !== this.globalTransfer.manifest.transferId) {
      throw new FedpeftError(
        'TRANSFER_UNKNOWN',
        `transfer ${ack.transferId} is not available; the current global state is ${this.globalTransfer.manifest.transferId}`,
      );
    }
    this.startDownload(session, ack);
  }

  private recordReport(session: ClientSession, m: MessageBody<'metrics'>): void {
    const r = this.active;
    if (!r || m.roundId !== r.id || !r.sampled.has(session.id)) return;
    r.reports.set(session.id, {
      globalValLoss: m.globalValLoss,
      personalValLoss: m.personalValLoss,
      trainLoss: m.trainLoss,
    });
  }

  // ------------------------------------------------------------------------------------------------------
  // Rounds

  private enqueue(task: () => Promise<void> | void): void {
    this.queue = this.queue
      .then(task)
      .catch((err: unknown) =>
        this.logger.log('error', 'internal-error', { message: (err as Error).stack ?? String(err) }),
      );
  }

  private tryStartRound(): void | Promise<void> {
    if (!this.started || this.active || this.phase === 'finished' || this.phase === 'stopped') return;
    const round = this.completed + 1;
    if (round > this.config.run.rounds) return this.finish();
    const candidates = [...this.sessions.values()]
      .filter((s) => s.connected && s.signed)
      .map((s) => ({ id: s.id }));
    let instructions;
    try {
      instructions = this.strategy.configureRound({ round, clients: candidates });
    } catch (err) {
      if (isFedpeftError(err) && err.code === 'DP_BUDGET_EXHAUSTED') {
        this.logger.log('warn', 'privacy-budget-exhausted', { round, message: err.message });
        return this.finish();
      }
      // Secure aggregation needs at least 2 clients per round: wait for them like for minClients.
      if (
        isFedpeftError(err) &&
        (err.code === 'STRATEGY_NOT_ENOUGH_CLIENTS' || err.code === 'SECAGG_TOO_FEW_CLIENTS')
      ) {
        this.phase = 'waiting-for-clients';
        if (!this.waitingLogged)
          this.logger.log('info', 'waiting-for-clients', { round, message: err.message });
        this.waitingLogged = true;
        return;
      }
      throw err;
    }
    this.waitingLogged = false;
    const extras = new Map<string, Record<string, unknown>>();
    for (const i of instructions) {
      extras.set(i.clientId, {
        ...(i.proximalMu !== undefined ? { proximalMu: i.proximalMu } : {}),
        ...i.extra,
      });
    }
    return this.openRound(round, extras, []);
  }

  private async openRound(
    round: number,
    extras: Map<string, Record<string, unknown>>,
    replay: Awaited<ReturnType<RoundJournal['read']>>,
  ): Promise<void> {
    if (this.journal && replay.length === 0) {
      const dir = join(this.journal.dir, `round-${round}`);
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(join(dir, 'sampled.json'), JSON.stringify(Object.fromEntries(extras)));
    }
    const now = Date.now();
    const linkIndex = this.schedule ? this.schedule.linkAt(round - 1) : 0;
    // The first round of a new link: every client folds the previous link's aggregate into its base and
    // restarts the link's tensors (`setLink`), so updates are relative to that reset, not to the old global.
    const reference = linkIndex > this.globalLink ? this.method.linkStart(linkIndex) : this.global;
    const context = { round, global: reference, rules: this.method.rules };
    const aggregation =
      this.strategy instanceof SecureAggregation
        ? this.strategy.beginAggregation(context, [...extras.keys()])
        : this.strategy.beginAggregation(context);
    const r: ActiveRound = {
      id: round,
      startedAt: now,
      deadlineAt: now + this.config.round.deadlineMs,
      linkIndex,
      reference,
      sampled: new Set(extras.keys()),
      committed: new Map(),
      dropped: new Set(),
      extras,
      aggregation,
      ...(isSecureRound(aggregation)
        ? { secure: { round: aggregation, phaseTimer: undefined, aborted: false } }
        : {}),
      clientRanks: new Map(),
      reports: new Map(),
      bytesAtStart: this.trafficTotals(),
      timer: undefined,
      dropTimers: new Map(),
      closing: false,
    };
    for (const entry of r.secure ? [] : replay) {
      try {
        r.aggregation.add({
          clientId: entry.sessionId,
          weight: entry.weight,
          tensors: entry.tensors,
          ...(Object.keys(entry.trainedExtents).length > 0
            ? { trainedExtents: new Map(Object.entries(entry.trainedExtents)) }
            : {}),
          ...(entry.norms && Object.keys(entry.norms).length > 0
            ? { norms: new Map(Object.entries(entry.norms)) }
            : {}),
        });
        r.committed.set(entry.sessionId, {
          transferId: entry.transferId,
          weight: entry.weight,
          trainLoss: entry.trainLoss,
          globalValLoss: entry.globalValLoss,
          personalValLoss: entry.personalValLoss,
        });
      } catch (err) {
        this.logger.log('error', 'journal-replay-failed', {
          round,
          session: entry.sessionId,
          message: (err as Error).message,
        });
      }
    }
    this.active = r;
    this.phase = 'training';
    this.logger.log('info', 'round-started', {
      round,
      sampled: r.sampled.size,
      replayed: r.committed.size,
      linkIndex: r.linkIndex,
      secure: r.secure !== undefined,
      deadlineMs: this.config.round.deadlineMs,
    });
    if (this.started) this.armRound(r);
  }

  /** Starts the deadline, sends instructions to connected sampled clients, and drop timers for the others. */
  private armRound(r: ActiveRound): void {
    clearTimeout(r.timer);
    r.timer = setTimeout(
      () => this.enqueue(() => (r.secure ? this.onSecureDeadline(r) : this.closeRound(r, 'deadline'))),
      Math.max(0, r.deadlineAt - Date.now()),
    );
    if (r.secure && r.secure.round.phase === 'advertise-keys') this.armSecurePhase(r);
    for (const id of r.sampled) {
      const session = this.sessions.get(id);
      if (!session || r.committed.has(id)) continue;
      if (session.connected) this.sendInstruction(r, session);
      else this.scheduleDrop(session);
    }
    this.checkClose(r);
  }

  private sendInstruction(r: ActiveRound, session: ClientSession, resumeAck?: ChunkAck): void {
    const peer = session.peer;
    if (!peer?.isOpen) return;
    const rc = this.config.round;
    peer.send({
      kind: 'roundInstruction',
      body: {
        roundId: r.id,
        task: TaskKind.TRAIN,
        deadlineMs: Math.max(1, r.deadlineAt - Date.now()),
        localSteps: rc.localSteps,
        batchSize: rc.batchSize,
        learningRate: rc.learningRate,
        hyperparamsJson: JSON.stringify({ ...rc.hyperparams, ...r.extras.get(session.id) }),
        clientRank: this.clientRankFor(r, session),
        linkIndex: r.linkIndex,
        globalState: this.globalTransfer.manifest,
        secureAggregation: r.secure ? r.secure.round.configFor(session.id) : null,
        evaluatePersonal: rc.evaluatePersonal,
      },
    });
    this.startDownload(session, resumeAck);
  }

  private startDownload(session: ClientSession, resumeAck?: ChunkAck): void {
    const peer = session.peer;
    if (!peer?.isOpen) return;
    peer
      .sendTransfer(this.globalTransfer, {
        announce: false,
        ...(resumeAck ? { resumeFrom: resumeAck } : {}),
        window: this.config.transport.maxInFlightChunks,
      })
      .catch((err: unknown) =>
        this.logger.log('debug', 'download-interrupted', {
          session: session.id,
          message: (err as Error).message,
        }),
      );
  }

  private async handleCommit(
    session: ClientSession,
    frame: Frame,
    commit: MessageBody<'updateCommit'>,
  ): Promise<void> {
    const peer = session.peer;
    const r = this.active;
    try {
      this.checkCommitRound(session, commit, r);
      const round = r!;
      const previous = round.committed.get(session.id);
      if (previous) {
        if (previous.transferId === commit.transferId) {
          // The client missed our receipt (reconnect): repeat it.
          peer?.send(
            { kind: 'updateReceipt', body: { roundId: round.id, transferId: commit.transferId } },
            { inReplyTo: frame.requestId },
          );
          return;
        }
        throw new FedpeftError(
          'UNEXPECTED_MESSAGE',
          `this client already committed an update for round ${round.id}`,
        );
      }
      if (round.secure) {
        throw new FedpeftError(
          'UNEXPECTED_MESSAGE',
          `round ${round.id} is securely aggregated: send secagg_masked_input, not update_commit`,
        );
      }
      const receiver = session.inbox.take(commit.transferId);
      const contribution = buildContribution(session.id, receiver, commit, this.method);
      try {
        round.aggregation.add(contribution);
      } catch (err) {
        throw toProtocolError(err);
      }
      const m = commit.trainMetrics;
      const committed = {
        transferId: commit.transferId,
        weight: contribution.weight,
        trainLoss: m?.trainLoss ?? null,
        globalValLoss: m?.globalValLoss ?? null,
        personalValLoss: m?.personalValLoss ?? null,
      };
      if (this.journal) {
        await this.journal.append({
          round: round.id,
          sessionId: session.id,
          transferId: commit.transferId,
          weight: contribution.weight,
          numExamples: commit.numExamples,
          trainedExtents: Object.fromEntries(contribution.trainedExtents ?? []),
          norms: Object.fromEntries(contribution.norms ?? []),
          trainLoss: committed.trainLoss,
          globalValLoss: committed.globalValLoss,
          personalValLoss: committed.personalValLoss,
          tensors: contribution.tensors,
        });
      }
      round.committed.set(session.id, committed);
      session.record.lastCommittedRound = round.id;
      session.peer?.send(
        { kind: 'updateReceipt', body: { roundId: round.id, transferId: commit.transferId } },
        { inReplyTo: frame.requestId },
      );
      this.logger.log('info', 'update-accepted', {
        round: round.id,
        session: session.id,
        weight: contribution.weight,
        committed: round.committed.size,
        sampled: round.sampled.size,
      });
      this.checkClose(round);
    } catch (err) {
      const e = toProtocolError(err);
      if (e.code !== 'TRANSFER_INCOMPLETE') session.inbox.abandon(commit.transferId);
      this.logger.log('warn', 'update-rejected', {
        round: commit.roundId,
        session: session.id,
        code: e.code,
        message: e.message.slice(0, 300),
      });
      peer?.sendError(e, {
        roundId: commit.roundId,
        transferId: commit.transferId,
        inReplyTo: frame.requestId,
      });
    }
  }

  private checkCommitRound(
    session: ClientSession,
    commit: MessageBody<'updateCommit'>,
    r: ActiveRound | undefined,
  ): void {
    const current = r?.id ?? this.completed + 1;
    if (commit.roundId > current || (!r && commit.roundId === current)) {
      throw new FedpeftError(
        'FUTURE_ROUND',
        `round ${commit.roundId} has not started (current: ${r ? r.id : 'none'})`,
      );
    }
    if (!r || commit.roundId < r.id) {
      const last = this.lastClosed;
      if (
        last &&
        last.id === commit.roundId &&
        last.sampled.has(session.id) &&
        !last.committed.has(session.id)
      ) {
        throw new FedpeftError(
          'DEADLINE_EXCEEDED',
          `round ${commit.roundId} closed before this update arrived; the straggler was dropped from it — train the next round`,
        );
      }
      throw new FedpeftError(
        'STALE_ROUND',
        `round ${commit.roundId} is over; the current round is ${r ? r.id : 'none'}`,
      );
    }
    if (!r.sampled.has(session.id)) {
      throw new FedpeftError('NOT_SELECTED', `this client was not sampled for round ${r.id}`);
    }
    if (r.dropped.has(session.id) || (Date.now() > r.deadlineAt && !r.committed.has(session.id))) {
      throw new FedpeftError(
        'DEADLINE_EXCEEDED',
        `round ${r.id}'s deadline passed (or the client was dropped after disconnecting); train the next round`,
      );
    }
  }

  private scheduleDrop(session: ClientSession): void {
    const r = this.active;
    if (!r || !r.sampled.has(session.id) || r.committed.has(session.id) || r.dropped.has(session.id)) return;
    if (r.dropTimers.has(session.id)) return;
    const timer = setTimeout(() => {
      r.dropTimers.delete(session.id);
      if (session.connected || this.active !== r || r.committed.has(session.id)) return;
      r.dropped.add(session.id);
      this.logger.log('info', 'client-dropped', { round: r.id, session: session.id, reason: 'disconnected' });
      this.checkClose(r);
    }, this.config.round.dropAfterMs);
    timer.unref?.();
    r.dropTimers.set(session.id, timer);
  }

  private cancelDrop(session: ClientSession): void {
    const t = this.active?.dropTimers.get(session.id);
    if (t) {
      clearTimeout(t);
      this.active!.dropTimers.delete(session.id);
    }
  }

  private checkClose(r: ActiveRound): void {
    if (r.closing || this.active !== r || !this.started) return;
    if (r.secure) {
      this.advanceSecure(r);
      return;
    }
    const quorum = Math.ceil(this.config.round.quorum * r.sampled.size - 1e-9);
    const outstanding = [...r.sampled].filter((id) => !r.committed.has(id) && !r.dropped.has(id));
    if (r.committed.size >= quorum || outstanding.length === 0) {
      r.closing = true;
      this.enqueue(() => this.closeRound(r, r.committed.size >= quorum ? 'quorum' : 'all-reported'));
    }
  }

  private async closeRound(r: ActiveRound, reason: string): Promise<void> {
    if (this.active !== r) return;
    clearTimeout(r.timer);
    for (const t of r.dropTimers.values()) clearTimeout(t);
    if (r.secure) clearTimeout(r.secure.phaseTimer);
    this.active = undefined;
    const committedIds = new Set(r.committed.keys());
    this.lastClosed = { id: r.id, sampled: r.sampled, committed: committedIds };
    for (const id of r.sampled) {
      if (!committedIds.has(id)) {
        const s = this.sessions.get(id);
        for (const ack of s?.inbox.pendingAcks() ?? []) s!.inbox.abandon(ack.transferId);
      }
    }
    let aggregated = r.committed.size >= this.config.round.minUpdates && !r.secure?.aborted;
    let strategyMetrics: Record<string, number> = {};
    if (aggregated) {
      try {
        const outcome = r.secure ? await r.secure.round.complete() : r.aggregation.finish();
        this.global = outcome.global;
        this.globalLink = r.linkIndex;
        strategyMetrics = outcome.metrics;
      } catch (err) {
        if (!r.secure) throw err;
        // Unmasking failed (too few shares): the round ends without changing the global state.
        aggregated = false;
        this.abortSecure(r, err);
      }
    }
    if (!aggregated && r.linkIndex > this.globalLink) {
      // Clients already folded the previous link and reset: the global must be the new link's start too.
      this.global = r.reference;
      this.globalLink = r.linkIndex;
    }
    this.completed = r.id;
    this.globalTransfer = this.makeGlobalTransfer();
    await this.checkpoints.save(
      {
        runId: this.runId,
        round: this.completed,
        seed: this.config.run.seed,
        method: this.method.method,
        model: this.method.model,
        linkSchedule: this.schedule ? { roundsPerLink: this.schedule.roundsPerLink } : null,
        sessions: this.sessionRecords(),
        signatureReference: this.signatureReference ? Array.from(this.signatureReference) : null,
        rng: { seed: this.config.run.seed },
      },
      this.global,
      this.strategy.exportState(),
    );
    await this.journal?.clearThrough(r.id);
    const traffic = this.trafficTotals();
    const updates = [...r.committed.entries()];
    const summary: RoundSummary = {
      round: r.id,
      sampled: r.sampled.size,
      participants: r.committed.size,
      dropped: r.sampled.size - r.committed.size,
      aggregated,
      linkIndex: r.linkIndex,
      trainLoss: meanOf(updates.map(([, u]) => u.trainLoss)),
      globalValLoss: meanOf(updates.map(([id, u]) => r.reports.get(id)?.globalValLoss ?? u.globalValLoss)),
      personalValLoss: meanOf(
        updates.map(([id, u]) => r.reports.get(id)?.personalValLoss ?? u.personalValLoss),
      ),
      bytesUp: traffic.up - r.bytesAtStart.up,
      bytesDown: traffic.down - r.bytesAtStart.down,
      roundMs: Date.now() - r.startedAt,
      strategy: strategyMetrics,
    };
    this.lastSummary = summary;
    await this.metrics.append(summary);
    this.logger.log('info', 'round-closed', { reason, ...summary });
    for (const l of this.roundListeners) l(summary);
    this.broadcastGlobal(summary);
    if (this.completed >= this.config.run.rounds) await this.finish();
    else this.enqueue(() => this.tryStartRound());
  }

  private broadcastGlobal(summary: RoundSummary): void {
    const nextLink = this.schedule ? this.schedule.linkAt(this.completed) : 0;
    for (const s of this.sessions.values()) {
      if (!s.connected) continue;
      s.peer!.send({
        kind: 'globalState',
        body: {
          roundId: summary.round,
          state: this.globalTransfer.manifest,
          linkIndex: nextLink,
          roundMetrics: {
            roundId: summary.round,
            trainLoss: summary.trainLoss,
            globalValLoss: summary.globalValLoss,
            personalValLoss: summary.personalValLoss,
            bytesSent: summary.bytesDown,
            bytesReceived: summary.bytesUp,
            computeMs: summary.roundMs,
            numClients: summary.participants,
          },
        },
      });
    }
  }

  private async finish(): Promise<void> {
    if (this.phase === 'finished') return;
    this.phase = 'finished';
    this.logger.log('info', 'run-finished', { runId: this.runId, rounds: this.completed });
    for (const s of this.sessions.values()) {
      s.peer?.send({ kind: 'goodbye', body: { reason: `run ${this.runId} finished`, runComplete: true } });
    }
    this.tokens.stop();
    this.finishedResolve();
    await Promise.resolve();
  }

  /**
   * The nested rank for this client in round `r`: for methods with heterogeneous ranks, its advertised
   * `max_rank` capped at the method's r (0 = the method's rank: no limit advertised, or r itself). Secure
   * rounds train everyone at full rank (a masked sum has no per-row client counts).
   */
  private clientRankFor(r: ActiveRound, session: ClientSession): number {
    const known = r.clientRanks.get(session.id);
    if (known !== undefined) return known;
    const max = session.capabilities?.maxRank ?? 0;
    const full = this.method.rank;
    const rank =
      !this.method.heterogeneousRanks || r.secure || max === 0 || full === 0 || max >= full ? 0 : max;
    r.clientRanks.set(session.id, rank);
    return rank;
  }

  // ------------------------------------------------------------------------------------------------------
  // Secure aggregation: the four phases of `SecureRound`, driven by client messages, phase timers and the
  // round deadline. Only masked vectors and their sum are ever held here (see server/privacy).

  private secureRoundFor(session: ClientSession, roundId: number): ActiveRound {
    const r = this.active;
    if (!r || r.id !== roundId || !r.secure) {
      throw new FedpeftError(
        r && roundId < r.id ? 'STALE_ROUND' : 'UNEXPECTED_MESSAGE',
        `round ${roundId} is not an open securely aggregated round (current: ${r ? r.id : 'none'})`,
      );
    }
    if (r.secure.aborted)
      throw new FedpeftError('SECAGG_ABORTED', `round ${r.id}'s secure aggregation failed`);
    if (!r.sampled.has(session.id)) {
      throw new FedpeftError('NOT_SELECTED', `this client was not sampled for round ${r.id}`);
    }
    return r;
  }

  private handleSecAgg(session: ClientSession, frame: Frame, record: SecAggClientRecord): void {
    try {
      const r = this.secureRoundFor(session, record.body.roundId);
      r.secure!.round.receive(session.id, record);
      this.logger.log('debug', 'secagg-received', { round: r.id, session: session.id, kind: record.kind });
      this.advanceSecure(r);
    } catch (err) {
      this.rejectSecAgg(session, frame, record.kind, record.body.roundId, err);
    }
  }

  /** A masked input: its transfer must be complete; the reply is an `update_receipt` for that transfer. */
  private handleMaskedInput(
    session: ClientSession,
    frame: Frame,
    body: MessageBody<'secaggMaskedInput'>,
  ): void {
    try {
      const r = this.secureRoundFor(session, body.roundId);
      if (r.committed.has(session.id)) {
        if (r.committed.get(session.id)!.transferId !== body.transferId) {
          throw new FedpeftError(
            'UNEXPECTED_MESSAGE',
            `this client already sent its masked input for round ${r.id}`,
          );
        }
      } else {
        const receiver = session.inbox.get(body.transferId);
        if (receiver && !receiver.complete) session.inbox.take(body.transferId); // TRANSFER_INCOMPLETE
        const tensors = session.inbox.take(body.transferId).tensors();
        r.secure!.round.receive(session.id, { kind: 'secaggMaskedInput', body, tensors });
        r.committed.set(session.id, {
          transferId: body.transferId,
          weight: body.weight,
          trainLoss: null,
          globalValLoss: null,
          personalValLoss: null,
        });
        session.record.lastCommittedRound = r.id;
        this.logger.log('info', 'masked-input-accepted', {
          round: r.id,
          session: session.id,
          committed: r.committed.size,
          sampled: r.sampled.size,
        });
      }
      session.peer?.send(
        { kind: 'updateReceipt', body: { roundId: r.id, transferId: body.transferId } },
        { inReplyTo: frame.requestId },
      );
      this.advanceSecure(r);
    } catch (err) {
      const code = toProtocolError(err).code;
      if (code !== 'TRANSFER_INCOMPLETE') session.inbox.abandon(body.transferId);
      this.rejectSecAgg(session, frame, 'secaggMaskedInput', body.roundId, err, body.transferId);
    }
  }

  private rejectSecAgg(
    session: ClientSession,
    frame: Frame,
    kind: string,
    roundId: number,
    err: unknown,
    transferId?: string,
  ): void {
    const e = toProtocolError(err);
    this.logger.log('warn', 'secagg-rejected', {
      round: roundId,
      session: session.id,
      kind,
      code: e.code,
      message: e.message.slice(0, 300),
    });
    session.peer?.sendError(e, {
      roundId,
      inReplyTo: frame.requestId,
      ...(transferId ? { transferId } : {}),
    });
  }

  /** Participants the current phase still waits for (dropped ones never; in the unmask phase, connected only). */
  private secureAwaited(r: ActiveRound): string[] {
    const { round } = r.secure!;
    return round.awaiting.filter(
      (id) => !r.dropped.has(id) && (round.phase !== 'unmask' || this.sessions.get(id)?.connected === true),
    );
  }

  /** Closes the current phase when nobody is awaited (or, for masked inputs, once the quorum is in). */
  private advanceSecure(r: ActiveRound): void {
    const s = r.secure;
    if (!s || s.aborted || r.closing || this.active !== r || !this.started) return;
    const phase = s.round.phase;
    const awaited = this.secureAwaited(r);
    if (phase === 'masked-input') {
      const quorum = Math.ceil(this.config.round.quorum * r.sampled.size - 1e-9);
      if (awaited.length === 0 || r.committed.size >= quorum) this.closeSecurePhase(r);
      return;
    }
    if (phase === 'unmask') {
      if (awaited.length === 0) this.finishSecure(r, 'all-unmasked');
      return;
    }
    if (awaited.length === 0) this.closeSecurePhase(r);
  }

  private armSecurePhase(r: ActiveRound): void {
    const s = r.secure!;
    clearTimeout(s.phaseTimer);
    s.phaseTimer = undefined;
    if (s.round.phase === 'masked-input') return; // ends at the round deadline (or when all inputs are in)
    const timeout = this.config.privacy.secureAggregation?.phaseTimeoutMs ?? 30_000;
    s.phaseTimer = setTimeout(
      () =>
        this.enqueue(() => {
          if (this.active !== r || s.aborted || r.closing) return;
          if (s.round.phase === 'unmask') this.finishSecure(r, 'unmask-timeout');
          else this.closeSecurePhase(r);
        }),
      timeout,
    );
    s.phaseTimer.unref?.();
  }

  private closeSecurePhase(r: ActiveRound): void {
    const s = r.secure!;
    const phase = s.round.phase;
    clearTimeout(s.phaseTimer);
    let records;
    try {
      records = s.round.closePhase();
    } catch (err) {
      this.abortSecure(r, err);
      r.closing = true;
      this.enqueue(() => this.closeRound(r, 'secagg-aborted'));
      return;
    }
    for (const { clientId, message } of records) {
      const peer = this.sessions.get(clientId)?.peer;
      if (peer?.isOpen) peer.send(message);
    }
    this.logger.log('info', 'secagg-phase-closed', { round: r.id, phase, sent: records.length });
    this.armSecurePhase(r);
    // A phase may close with nobody left to wait for in the next one (everyone already sent it).
    this.advanceSecure(r);
  }

  private onSecureDeadline(r: ActiveRound): void | Promise<void> {
    const s = r.secure!;
    if (this.active !== r || r.closing || s.aborted) return;
    if (s.round.phase === 'masked-input') {
      this.closeSecurePhase(r);
      return;
    }
    if (s.round.phase === 'unmask') return; // its own timer ends it
    this.abortSecure(
      r,
      new FedpeftError(
        'SECAGG_ABORTED',
        `round ${r.id}'s deadline passed before secure aggregation reached the masked inputs (phase ${s.round.phase})`,
      ),
    );
    r.closing = true;
    return this.closeRound(r, 'deadline');
  }

  private finishSecure(r: ActiveRound, reason: string): void {
    if (r.closing) return;
    clearTimeout(r.secure!.phaseTimer);
    r.closing = true;
    this.enqueue(() => this.closeRound(r, reason));
  }

  /** Marks the round's secure aggregation failed and tells its connected participants. */
  private abortSecure(r: ActiveRound, err: unknown): void {
    const s = r.secure!;
    if (s.aborted) return;
    s.aborted = true;
    clearTimeout(s.phaseTimer);
    const e = new FedpeftError('SECAGG_ABORTED', (err as Error).message ?? String(err));
    this.logger.log('warn', 'secagg-aborted', { round: r.id, message: e.message.slice(0, 300) });
    for (const id of r.sampled) this.sessions.get(id)?.peer?.sendError(e, { roundId: r.id });
  }

  // ------------------------------------------------------------------------------------------------------
  // Persistence

  private makeGlobalTransfer(): OutgoingTransfer {
    return OutgoingTransfer.fromHostTensors(`global-r${this.completed + 1}`, this.global, {
      chunkBytes: this.config.transport.chunkBytes,
    });
  }

  private sessionRecords(): SessionRecord[] {
    return [...this.sessions.values()].map((s) => ({ ...s.record }));
  }

  private async persistSessions(): Promise<void> {
    await writeFileAtomic(join(this.runDir, SESSIONS_FILE), JSON.stringify(this.sessionRecords()));
  }

  private inboxLimits() {
    // Senders choose their chunk size (up to the protocol's MAX_CHUNK_BYTES); only the transfer size is ours.
    return { maxTransferBytes: this.config.transport.maxTransferBytes };
  }

  private trafficTotals(): { up: number; down: number } {
    let up = 0;
    let down = 0;
    for (const s of this.sessions.values()) {
      up += s.bytesUp();
      down += s.bytesDown();
    }
    return { up, down };
  }

  private async restore(): Promise<void> {
    const checkpoint = await this.checkpoints.loadLatest();
    if (checkpoint) {
      const { state } = checkpoint;
      if (state.method !== this.method.method || state.model !== this.method.model) {
        throw new FedpeftError(
          'CHECKPOINT_MISMATCH',
          `the checkpoint is of method '${state.method}' on '${state.model}'; this config runs '${this.method.method}' on '${this.method.model}'`,
        );
      }
      this.completed = state.round;
      this.global = checkpoint.global;
      this.globalLink = this.schedule ? this.schedule.linkAt(Math.max(0, state.round - 1)) : 0;
      this.strategy.importState(checkpoint.strategyState);
      if (state.signatureReference && !this.signatureReference) {
        this.signatureReference = Float32Array.from(state.signatureReference);
      }
      for (const rec of state.sessions) this.sessions.set(rec.id, new ClientSession(rec, this.inboxLimits()));
      this.globalTransfer = this.makeGlobalTransfer();
    }
    // Sessions created after the checkpoint are in sessions.json (written before their Welcome).
    try {
      const records = JSON.parse(await readFile(join(this.runDir, SESSIONS_FILE), 'utf8')) as SessionRecord[];
      for (const rec of records) {
        const known = this.sessions.get(rec.id);
        if (known)
          known.record.lastCommittedRound = Math.max(known.record.lastCommittedRound, rec.lastCommittedRound);
        else this.sessions.set(rec.id, new ClientSession(rec, this.inboxLimits()));
      }
    } catch {
      // No sessions file: a run that never admitted anyone.
    }
    const round = this.completed + 1;
    if (this.journal && round <= this.config.run.rounds) {
      const replay = await this.journal.read(round);
      let sampled: Record<string, Record<string, unknown>> | null = null;
      try {
        sampled = JSON.parse(
          await readFile(join(this.journal.dir, `round-${round}`, 'sampled.json'), 'utf8'),
        ) as Record<string, Record<string, unknown>>;
      } catch {
        sampled = null;
      }
      if (sampled) await this.openRound(round, new Map(Object.entries(sampled)), replay);
      for (const entry of replay) {
        const s = this.sessions.get(entry.sessionId);
        if (s) s.record.lastCommittedRound = Math.max(s.record.lastCommittedRound, round);
      }
    }
    this.logger.log('info', 'run-resumed', {
      runId: this.runId,
      completedRounds: this.completed,
      sessions: this.sessions.size,
      openRound: this.active?.id ?? null,
      replayedUpdates: this.active?.committed.size ?? 0,
    });
  }

  private endSessionsOf(joinTokenDigest: string): void {
    for (const s of [...this.sessions.values()]) {
      if (s.record.joinTokenDigest !== joinTokenDigest) continue;
      s.peer?.send({
        kind: 'goodbye',
        body: { reason: 'the join token of this client was revoked', runComplete: true },
      });
      s.peer?.close('join token revoked');
      this.sessions.delete(s.id);
      this.logger.log('info', 'session-revoked', { session: s.id });
    }
    void this.persistSessions().catch(() => undefined);
  }
}
