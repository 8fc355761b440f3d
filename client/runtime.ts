/**
 * The client's side of the protocol (docs/protocol.md), over any `Connector`: join (and re-join with the
 * session token after every disconnect), heartbeats with phase and progress, downloads of the global state
 * (resumed from the acknowledged prefix after a reconnect), local training through `ClientTrainer`, the
 * chunked upload of exactly the adapter's shared tensors (resumed from the coordinator's acknowledged prefix
 * after a reconnect or a process restart), the commit, and a deliberate reaction to every error code
 * (error-policy.ts).
 *
 * The round's work is independent of any one connection: training goes on while the link is down, and the
 * network steps wait for the next joined connection. Everything a restart needs is written to the
 * `StateStore` before it is relied on: the upload's bytes and bookkeeping before its first chunk is sent, the
 * committed round once its receipt arrives.
 *
 * Join and derived-state signatures: a method with derived tensors (PiCa's U_l) must prove in its Join that it
 * derived them like everyone else, but a brand-new client learns the run (model, method, seed) only from the
 * Welcome. So the client joins with the run it already knows (given up front, or remembered in its store);
 * when it knew none and the run turns out to need signatures, it builds the adapter and immediately re-joins
 * the same session with them (docs/protocol.md, "Client behaviour").
 */
import { tf } from '../shared/tensor/tf.ts';
import { Rng } from '../shared/tensor/rng.ts';
import { FedpeftError, isFedpeftError } from '../shared/errors.ts';
import { listAdapterMethods } from '../shared/adapters/registry.ts';
import type { HostTensorMap } from '../shared/tensor/host-tensor.ts';
import { OutgoingTransfer } from '../shared/wire/chunking.ts';
import type { FrameLink } from '../shared/wire/frame-link.ts';
import { DEFAULT_CHUNK_BYTES } from '../shared/wire/limits.ts';
import {
  ClientPhase,
  TaskKind,
  fromWireError,
  type ChunkAck,
  type Frame,
  type MessageBody,
  type MessageInput,
  type TransferManifest,
  type WireLimits,
} from '../shared/wire/messages.ts';
import { Peer } from '../shared/wire/peer.ts';
import { DType, encodeHostTensor } from '../shared/wire/tensor-codec.ts';
import { TransferInbox } from '../shared/wire/transfer-inbox.ts';
import { Backoff } from './backoff.ts';
import { errorAction, fatalAdvice } from './error-policy.ts';
import {
  emptyClientState,
  type ClientStateMeta,
  type PendingUpload,
  type StateStore,
} from './state-store.ts';
import type { ClientRunConfig, ClientTrainer, LocalUpdate } from './trainer.ts';
import type { ClientLogger, ClientRunOutcome, ClientRuntimeOptions } from './engine/types.ts';
import { runFromRecord, runFromWelcome, sameRun } from './engine/run-config.ts';
import { FoldCatchUp, type FoldDownloads } from './engine/fold-catch-up.ts';

export type {
  ClientLogLevel,
  ClientLogger,
  ClientRunOutcome,
  ClientRuntimeOptions,
  ClientTraits,
  CommittedUpdate,
  TrainerLifetime,
} from './engine/types.ts';
import { SecureAggregationProtocol } from './update-protocols/secure-aggregation.ts';
import type { Instruction, UpdateProtocol, UpdateProtocolHost } from './update-protocols/update-protocol.ts';
import {
  effectiveNoise,
  noiseRequestFromInstruction,
  privatizeUpdate,
  type PrivatizedUpdate,
} from './privacy/update-privacy.ts';
import { cryptoGaussianSource, type GaussianSource } from '../shared/privacy/gaussian-source.ts';

const silent: ClientLogger = { log: () => undefined };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errorCode(err: unknown): string {
  return isFedpeftError(err) ? err.code : 'INTERNAL';
}

interface HeldGlobal {
  transferId: string;
  tensors: HostTensorMap;
}

interface Pending {
  meta: PendingUpload;
  tensors: HostTensorMap;
  update: LocalUpdate | null;
}

export class ClientRuntime {
  private readonly options: ClientRuntimeOptions;
  private readonly logger: ClientLogger;
  private readonly store: StateStore;
  private readonly backoff: Backoff;
  private meta: ClientStateMeta = emptyClientState();
  private trainer: ClientTrainer | undefined;
  private trainerRun: ClientRunConfig | undefined;
  private readonly inbox = new TransferInbox({ maxOpenTransfers: 4 });
  private peer: Peer | undefined;
  private limits: WireLimits | undefined;
  private peerWaiters: Array<() => void> = [];
  private resumeUploads = new Map<string, ChunkAck>();
  private heldGlobal: HeldGlobal | null = null;
  private readonly downloadWaiters = new Map<string, Array<() => void>>();
  private readonly cancelWaits = new Set<(err: Error) => void>();
  private pending: Pending | null = null;
  private uploadTask: Promise<void> | undefined;
  private roundTask: { roundId: number; promise: Promise<void> } | undefined;
  private phase: ClientPhase = ClientPhase.IDLE;
  private progress = 0;
  private currentRound = 0;
  private persistChain: Promise<void> = Promise.resolve();
  private fatal: Error | undefined;
  private stopped = false;
  private runComplete = false;
  private readonly committed: number[] = [];
  private readonly secure: SecureAggregationProtocol;
  /** Plain upload + commit (the upload code below; resumable across reconnects and restarts). */
  private readonly plain: UpdateProtocol = {
    needsDelta: false,
    begin: () => true,
    submit: (ins, update, priv, persistState) => this.plainSubmit(ins, update, priv, persistState),
  };
  /** Fold downloads (catch-up), kept apart from the held global: they are not the round's starting point. */
  private readonly foldIds = new Set<string>();
  private readonly foldValues = new Map<string, HostTensorMap>();
  private readonly folds: FoldCatchUp;
  private protocolHost(): UpdateProtocolHost {
    return {
      logger: this.logger,
      options: this.options,
      joinedPeer: () => this.joinedPeer(),
      limits: () => this.limits,
      setPhase: (phase) => this.setPhase(phase),
      setProgress: (fraction) => (this.progress = fraction),
      nextTransferId: (prefix, roundId) => {
        this.meta.transferCounter++;
        return `${prefix}-r${roundId}-${this.meta.transferCounter}`;
      },
      markCommitted: async (roundId) => {
        this.meta.lastCommittedRound = Math.max(this.meta.lastCommittedRound, roundId);
        this.committed.push(roundId);
        await this.persist(() => this.store.writeMeta(this.meta));
      },
    };
  }

  /** The update protocol the instruction asks for: secure aggregation when it carries its config. */
  private protocolFor(ins: Instruction): UpdateProtocol {
    return ins.secureAggregation ? this.secure : this.plain;
  }

  private foldSource(): FoldDownloads {
    return {
      joinedPeer: () => this.joinedPeer(),
      download: (manifest, peer, deadlineAt) => this.downloadFold(manifest, peer, deadlineAt),
      release: (id) => {
        this.foldIds.delete(id);
        this.foldValues.delete(id);
      },
    };
  }
  private noise: GaussianSource | undefined;

  constructor(options: ClientRuntimeOptions) {
    this.options = options;
    this.logger = options.logger ?? silent;
    this.folds = new FoldCatchUp(this.foldSource(), this.logger);
    this.secure = new SecureAggregationProtocol(this.protocolHost());
    this.store = options.store;
    const seed = options.seed ?? new Rng(0).fork(`client:${options.clientName}`).nextUint32();
    this.backoff = new Backoff(options.backoff ?? {}, new Rng(seed).fork('reconnect-backoff'));
  }

  /** The trainer, once the run is known. */
  get currentTrainer(): ClientTrainer | undefined {
    return this.trainer;
  }

  /** Joins, trains every round it is given, and resolves when the coordinator says the run is complete. */
  async run(): Promise<ClientRunOutcome> {
    await this.restore();
    let failures = 0;
    let unreachableSince = Date.now();
    while (!this.stopped && !this.runComplete && !this.fatal) {
      let link: FrameLink;
      try {
        link = await this.options.connector.connect();
      } catch (err) {
        failures++;
        const max = this.options.maxConnectAttempts ?? Infinity;
        if (failures >= max) {
          throw new FedpeftError(
            'CONNECT_FAILED',
            `gave up after ${failures} failed connection attempts to ${this.options.connector.label}: ${(err as Error).message}`,
          );
        }
        const unreachableMs = Date.now() - unreachableSince;
        if (unreachableMs >= (this.options.giveUpAfterMs ?? Infinity)) {
          throw new FedpeftError(
            'COORDINATOR_UNREACHABLE',
            `the coordinator at ${this.options.connector.label} was unreachable for ${Math.round(unreachableMs / 1000)} s ` +
              `(${failures} attempts; last: ${(err as Error).message}); giving up`,
          );
        }
        // Never wait past the give-up time: the last attempt is made at it, not a backoff later.
        const delay = Math.min(
          this.backoff.next(),
          Math.max(0, unreachableSince + (this.options.giveUpAfterMs ?? Infinity) - Date.now()),
        );
        this.logger.log('warn', 'connect-failed', {
          server: this.options.connector.label,
          attempt: failures,
          retryInMs: delay,
          message: (err as Error).message,
        });
        await this.pauseUnlessStopped(delay);
        continue;
      }
      failures = 0;
      await this.session(link);
      unreachableSince = Date.now();
    }
    await this.roundTask?.promise;
    await this.persistChain;
    if (this.fatal) throw this.fatal;
    return {
      committedRounds: [...this.committed],
      lastCommittedRound: this.meta.lastCommittedRound,
      finalGlobal: this.heldGlobal?.tensors ?? null,
      runComplete: this.runComplete,
    };
  }

  /** Leaves politely and stops reconnecting (state stays in the store, so a later `run` resumes). */
  stop(reason = 'client stopping'): void {
    this.stopped = true;
    const peer = this.peer;
    if (peer?.isOpen) {
      peer.send({ kind: 'goodbye', body: { reason } });
      peer.close(reason);
    }
    this.cancelWaiting();
    for (const wake of [...this.stopWakers]) wake();
  }

  private readonly stopWakers = new Set<() => void>();

  /** A reconnect wait that `stop()` ends at once (Ctrl-C must not sit out a 30 s backoff). */
  private pauseUnlessStopped(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stopWakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.stopWakers.add(done);
    });
  }

  /** Frees the trainer's tensors (after `run` settled). */
  dispose(): void {
    this.trainer?.dispose();
    this.trainer = undefined;
  }

  // ---- one connection -------------------------------------------------------------------------------------

  private async session(link: FrameLink): Promise<void> {
    const peer = new Peer({
      side: 'client',
      link,
      inbox: this.inbox,
      onEvent: (event) => {
        if (event.type === 'protocol-error') {
          this.logger.log('debug', 'protocol-error', {
            code: event.code,
            direction: event.direction,
            message: event.message.slice(0, 300),
          });
        }
      },
    });
    const closed = new Promise<string>((resolve) => peer.onClose(resolve));
    // The coordinator may send an instruction right behind its Welcome, while the run is still being set up
    // here: hold such frames and handle them, in order, once the session is bound.
    let bound = false;
    const early: Frame[] = [];
    peer.onMessage((frame) => {
      if (bound) this.handle(frame, peer);
      else if (frame.message.kind !== 'welcome') {
        early.push(frame);
        // Its chunks follow at once: open the download now so they are not refused as unknown.
        if (frame.message.kind === 'roundInstruction')
          this.openDownload(frame.message.body.globalState, peer);
      }
    });
    peer.onTransferComplete((id) => this.onDownloadComplete(id));
    let welcome: MessageBody<'welcome'>;
    const hadSignatures = this.trainer !== undefined;
    try {
      welcome = await this.join(peer);
    } catch (err) {
      peer.close('join failed');
      await this.onJoinError(err);
      return;
    }
    this.backoff.reset();
    try {
      await this.onWelcome(welcome);
    } catch (err) {
      peer.close('cannot set up the run');
      this.fail(err);
      return;
    }
    if (!hadSignatures && this.trainer!.adapter.derived().size > 0) {
      this.logger.log('info', 'rejoin-with-signatures', { method: welcome.run?.method });
      peer.close('re-joining with derived-state signatures');
      await closed;
      return;
    }
    this.bind(peer, welcome);
    bound = true;
    for (const frame of early.splice(0)) this.handle(frame, peer);
    const reason = await closed;
    this.peer = undefined;
    if (this.runComplete || this.stopped || this.fatal) return;
    const delay = this.backoff.next();
    this.logger.log('warn', 'disconnected', { reason, retryInMs: delay });
    await this.pauseUnlessStopped(delay);
  }

  private capabilities(): MessageInput<'join'>['capabilities'] {
    return {
      backend: tf.getBackend() ?? '',
      supportedMethods: listAdapterMethods().map((m) => m.name),
      supportedDtypes: [DType.FLOAT32, DType.FLOAT16],
      numExamples: this.trainer?.numExamples ?? 0,
      maxRank: this.options.maxRank ?? 0,
      deviceClass: this.options.traits?.deviceClass ?? '',
      batteryLevel: this.options.traits?.batteryLevel ?? null,
      charging: this.options.traits?.charging ?? false,
      unmeteredNetwork: this.options.traits?.unmeteredNetwork ?? false,
    };
  }

  private async join(peer: Peer): Promise<MessageBody<'welcome'>> {
    const session = this.meta.session;
    const signatures = this.trainer
      ? [
          {
            method: this.trainer.run.method,
            value: (() => {
              const sig = this.trainer.signature();
              const { spec, bytes } = encodeHostTensor('signature', { shape: [sig.length], data: sig });
              return { spec, data: bytes };
            })(),
          },
        ]
      : [];
    const frame: Frame = await peer.request({
      kind: 'join',
      body: {
        clientName: this.options.clientName,
        authToken: this.options.authToken,
        capabilities: this.capabilities(),
        resumeSessionId: session?.sessionId ?? '',
        resumeSessionToken: session?.sessionToken ?? '',
        signatures: signatures.filter((s) => s.value.spec.shape[0]! > 0),
        resumeDownloads: this.inbox.pendingAcks(),
        lastCommittedRound: this.meta.lastCommittedRound,
      },
    });
    if (frame.message.kind !== 'welcome') {
      throw new FedpeftError(
        'UNEXPECTED_MESSAGE',
        `the coordinator answered join with ${frame.message.kind}`,
      );
    }
    return frame.message.body;
  }

  private async onJoinError(err: unknown): Promise<void> {
    const code = errorCode(err);
    const message = (err as Error).message;
    const action = errorAction(code);
    if (code === 'UNAUTHENTICATED' && this.meta.session) {
      // The join token or the session token was refused: try once as a new session before giving up.
      this.logger.log('warn', 'session-refused', { code, message });
      this.forgetSession();
      return;
    }
    if (code === 'SIGNATURE_MISMATCH' && !this.trainer) {
      this.fail(
        new FedpeftError(
          code,
          `the coordinator wants derived-state signatures in the first join, but this client does not know the run ` +
            `yet (it learns it from the Welcome): pass the run config (fedpeft join --run-config) — ${message}`,
        ),
      );
      return;
    }
    if (action === 'fatal') {
      this.fail(
        new FedpeftError(
          code,
          `the coordinator refused this client (${code}): ${message} — ${fatalAdvice(code)}`,
        ),
      );
      return;
    }
    if (action === 'rejoin') {
      this.logger.log('warn', 'session-unknown', { message });
      this.forgetSession();
      return;
    }
    const delay = this.backoff.next();
    this.logger.log('warn', 'join-failed', { code, message, retryInMs: delay });
    await this.pauseUnlessStopped(delay);
  }

  private forgetSession(): void {
    this.meta.session = null;
    if (this.pending) this.dropUpload('its session ended');
    void this.persist(() => this.store.writeMeta(this.meta));
  }

  private async onWelcome(welcome: MessageBody<'welcome'>): Promise<void> {
    const runMsg = welcome.run;
    const run = runFromWelcome(runMsg);
    const newSession = this.meta.session?.sessionId !== welcome.sessionId;
    if (newSession && this.pending) this.dropUpload('it belongs to an earlier session');
    const newRun = this.meta.run !== null && this.meta.run.runId !== runMsg.runId;
    if (newRun) {
      this.logger.log('info', 'new-run', { previous: this.meta.run?.runId, run: runMsg.runId });
      await this.resetRunState();
    }
    if (this.trainer && this.trainerRun && !sameRun(this.trainerRun, run)) {
      this.trainer.dispose();
      this.trainer = undefined;
    }
    if (!this.trainer) {
      this.trainer = await this.options.createTrainer(run);
      this.trainerRun = run;
      if (!newRun && this.meta.run?.runId === runMsg.runId) await this.restoreTrainerState();
    }
    this.meta.session = {
      serverUrl: this.options.connector.label,
      runId: runMsg.runId,
      sessionId: welcome.sessionId,
      sessionToken: welcome.sessionToken,
    };
    this.meta.run = {
      runId: runMsg.runId,
      ...run,
      modelConfig: run.modelConfig ?? {},
      methodConfig: (run.methodConfig ?? {}) as Record<string, unknown>,
    };
    await this.persist(() => this.store.writeMeta(this.meta));
    this.logger.log('info', 'joined', {
      session: welcome.sessionId,
      resumed: welcome.resumed,
      run: runMsg.runId,
      method: run.method,
      model: run.model,
      currentRound: welcome.currentRound,
      resumeUploads: welcome.resumeUploads.length,
    });
  }

  private bind(peer: Peer, welcome: MessageBody<'welcome'>): void {
    this.peer = peer;
    this.limits = welcome.limits;
    this.resumeUploads = new Map(welcome.resumeUploads.map((a) => [a.transferId, a]));
    peer.startHeartbeat(welcome.limits.heartbeatIntervalMs, () => ({
      roundId: this.currentRound,
      phase: this.phase,
      progress: Math.min(1, Math.max(0, this.progress)),
    }));
    // Downloads interrupted by the disconnect: ask for the rest (the coordinator resends from our ack).
    for (const ack of this.inbox.pendingAcks()) peer.send({ kind: 'chunkAck', body: ack });
    for (const w of this.peerWaiters.splice(0)) w();
    if (this.pending && !this.uploadTask) this.startUpload();
  }

  /** The joined connection, waiting for the next one while disconnected. */
  private async joinedPeer(): Promise<Peer> {
    for (;;) {
      if (this.stopped || this.fatal || this.runComplete)
        throw new FedpeftError('CLIENT_STOPPED', 'the client stopped');
      if (this.peer?.isOpen) return this.peer;
      await new Promise<void>((resolve) => this.peerWaiters.push(resolve));
    }
  }

  // ---- messages -------------------------------------------------------------------------------------------

  private handle(frame: Frame, peer: Peer): void {
    const { message } = frame;
    switch (message.kind) {
      case 'roundInstruction':
        this.onInstruction(message.body, peer);
        return;
      case 'globalState':
        this.onGlobalState(message.body, peer);
        return;
      case 'goodbye':
        this.logger.log('info', 'goodbye', {
          reason: message.body.reason,
          runComplete: message.body.runComplete,
        });
        if (message.body.runComplete) void this.finishRun(peer);
        return;
      case 'metrics':
        this.logger.log('info', 'round-summary', { ...message.body });
        return;
      case 'secaggKeysBroadcast':
      case 'secaggSharesDelivery':
      case 'secaggUnmaskRequest':
        void this.secure.onMessage(message, peer);
        return;
      case 'error':
        this.secure.onError(message);
        // Errors answering our requests and transfers are routed to them by Peer; this one stands alone.
        this.logger.log('warn', 'coordinator-error', {
          code: fromWireError(message.body).code,
          message: message.body.message,
          roundId: message.body.roundId,
        });
        return;
      default:
        return;
    }
  }

  private onGlobalState(body: MessageBody<'globalState'>, peer: Peer): void {
    this.logger.log('info', 'global-state', {
      round: body.roundId,
      transfer: body.state.transferId,
      participants: body.roundMetrics?.numClients,
      globalValLoss: body.roundMetrics?.globalValLoss,
    });
    // Fetch it now: it is the starting point of the next round and the run's model when the run ends.
    this.requestDownload(body.state, peer);
    if (body.foldCount > 0) this.scheduleNextFold(body.state.transferId, body.foldCount);
    // A coordinator without fold history announces link changes only.
    else this.scheduleFold(body.state.transferId, body.linkIndex);
  }

  /**
   * Chained methods: a global announced with a later link is the previous link's final aggregate. Every
   * client folds it into its base (`applyFold`) when it arrives, sampled next round or not, so all bases stay
   * equal. Runs on the round chain, so it never interleaves with training.
   */
  private scheduleFold(transferId: string, link: number): void {
    const t = this.trainer;
    const current = t?.adapter.currentLink;
    if (!t || current === undefined || link <= current) return;
    const previous = this.roundTask?.promise ?? Promise.resolve();
    const promise: Promise<void> = previous
      .then(async () => {
        const trainer = this.trainer;
        const now = trainer?.adapter.currentLink;
        if (!trainer || now === undefined || link <= now) return;
        const global = await this.waitForGlobal(transferId, Date.now() + 60_000);
        if (link === now + 1) trainer.applyFold(global);
        else {
          // Links skipped (a coordinator without fold history): fold what is known and jump.
          trainer.setShared(global);
          trainer.adapter.setLink!(link);
        }
        this.folds.lastFoldTransfer = transferId;
        this.logger.log('info', 'link-folded', { transfer: transferId, link });
      })
      .catch((err: unknown) => {
        if (errorCode(err) !== 'CLIENT_STOPPED')
          this.logger.log('warn', 'link-fold-deferred', { link, message: (err as Error).message });
      })
      .finally(() => {
        if (this.roundTask?.promise === promise) this.roundTask = undefined;
      });
    this.roundTask = { roundId: 0, promise };
  }

  /** The next fold by index (`GlobalState.fold_count == own + 1`), on the round chain like `scheduleFold`. */
  private scheduleNextFold(transferId: string, foldCount: number): void {
    if (!this.trainer || foldCount !== this.trainer.foldCount + 1) return;
    const previous = this.roundTask?.promise ?? Promise.resolve();
    const promise: Promise<void> = previous
      .then(async () => {
        const trainer = this.trainer;
        if (!trainer || foldCount !== trainer.foldCount + 1) return;
        const global = await this.waitForGlobal(transferId, Date.now() + 60_000);
        if (this.folds.applyIfNext(trainer, foldCount, transferId, global))
          this.logger.log('info', 'fold-applied', { transfer: transferId, foldCount });
      })
      .catch((err: unknown) => {
        if (errorCode(err) !== 'CLIENT_STOPPED')
          this.logger.log('warn', 'fold-deferred', { foldCount, message: (err as Error).message });
      })
      .finally(() => {
        if (this.roundTask?.promise === promise) this.roundTask = undefined;
      });
    this.roundTask = { roundId: 0, promise };
  }

  /** A fold's tensors: the held or in-flight global when it is that transfer, otherwise a download of its own. */
  private async downloadFold(
    manifest: TransferManifest,
    peer: Peer,
    deadlineAt: number,
  ): Promise<HostTensorMap> {
    const id = manifest.transferId;
    if (this.heldGlobal?.transferId !== id && !this.inbox.has(id)) {
      this.foldIds.add(id);
      this.requestDownload(manifest, peer);
    }
    return this.waitForGlobal(id, deadlineAt);
  }

  /** Opens a download quietly (no ack sent) unless the state is already held. */
  private openDownload(manifest: TransferManifest, peer: Peer): void {
    if (this.heldGlobal?.transferId === manifest.transferId) return;
    try {
      peer.expectTransfer(manifest);
    } catch {
      // reported when the frame is handled
    }
  }

  /** Opens (or resumes, or declines as already held) the download of a global state. */
  private requestDownload(manifest: TransferManifest, peer: Peer): void {
    const id = manifest.transferId;
    if (this.heldGlobal?.transferId === id) {
      // Already have it: tell the sender so it stops (or never starts) sending chunks.
      peer.send({
        kind: 'chunkAck',
        body: { transferId: id, contiguousCount: manifest.chunkCount, receivedAfter: [], complete: true },
      });
      return;
    }
    try {
      const ack = peer.expectTransfer(manifest);
      if (!ack.complete) peer.send({ kind: 'chunkAck', body: ack });
    } catch (err) {
      this.logger.log('warn', 'download-refused', {
        transfer: id,
        code: errorCode(err),
        message: (err as Error).message,
      });
    }
  }

  private onDownloadComplete(transferId: string): void {
    if (!this.inbox.has(transferId)) return;
    const receiver = this.inbox.take(transferId);
    const tensors = receiver.hostTensors();
    if (this.foldIds.has(transferId)) {
      this.foldValues.set(transferId, tensors);
      for (const w of this.downloadWaiters.get(transferId) ?? []) w();
      this.downloadWaiters.delete(transferId);
      return;
    }
    this.heldGlobal = { transferId, tensors };
    this.logger.log('debug', 'download-complete', {
      transfer: transferId,
      bytes: receiver.manifest.totalBytes,
    });
    void this.persist(async () => {
      await this.store.writeTensors('global', tensors, transferId);
      this.meta.globalRound += 1;
      await this.store.writeMeta(this.meta);
    });
    for (const w of this.downloadWaiters.get(transferId) ?? []) w();
    this.downloadWaiters.delete(transferId);
  }

  private waitForGlobal(transferId: string, deadlineAt: number): Promise<HostTensorMap> {
    return new Promise((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        this.cancelWaits.delete(cancel);
      };
      const check = () => {
        const tensors =
          this.heldGlobal?.transferId === transferId
            ? this.heldGlobal.tensors
            : this.foldValues.get(transferId);
        if (tensors) {
          settle();
          resolve(tensors);
        }
      };
      const cancel = (err: Error) => {
        settle();
        reject(err);
      };
      const timer = setTimeout(
        () =>
          cancel(
            new FedpeftError(
              'DEADLINE_EXCEEDED',
              `the global state ${transferId} did not arrive before the round's deadline`,
            ),
          ),
        Math.max(0, deadlineAt - Date.now()),
      );
      this.cancelWaits.add(cancel);
      const list = this.downloadWaiters.get(transferId) ?? [];
      list.push(check);
      this.downloadWaiters.set(transferId, list);
      check();
    });
  }

  /** Ends every wait for a download (the client is stopping): the round tasks then finish at once. */
  private cancelWaiting(): void {
    const err = new FedpeftError('CLIENT_STOPPED', 'the client stopped');
    for (const cancel of this.cancelWaits) cancel(err);
    this.cancelWaits.clear();
    for (const w of this.peerWaiters.splice(0)) w();
  }

  private onInstruction(ins: MessageBody<'roundInstruction'>, peer: Peer): void {
    this.requestDownload(ins.globalState, peer);
    if (ins.roundId <= this.meta.lastCommittedRound) {
      // The coordinator never instructs a client whose update it holds for that round, so this one was rolled
      // back (it resumed from an older checkpoint after a damaged newest one): train the round again.
      this.logger.log('warn', 'round-rolled-back', {
        round: ins.roundId,
        lastCommittedRound: this.meta.lastCommittedRound,
      });
      this.meta.lastCommittedRound = ins.roundId - 1;
    }
    if (this.roundTask?.roundId === ins.roundId || this.pending?.meta.roundId === ins.roundId) return; // re-sent after a reconnect
    if (!this.protocolFor(ins).begin(ins, peer)) return; // re-sent after a reconnect: already under way
    const previous = this.roundTask?.promise ?? Promise.resolve();
    const roundId = ins.roundId;
    const promise = previous
      .then(() => this.runRound(ins))
      .catch((err: unknown) => this.onRoundError(err, roundId))
      .finally(() => {
        if (this.roundTask?.roundId === roundId) this.roundTask = undefined;
      });
    this.roundTask = { roundId, promise };
  }

  private onRoundError(err: unknown, roundId: number): void {
    const code = errorCode(err);
    if (code === 'CLIENT_STOPPED') return;
    if (code === 'DEADLINE_EXCEEDED') {
      this.logger.log('warn', 'round-missed', { round: roundId, message: (err as Error).message });
      return;
    }
    if (
      isFedpeftError(err) &&
      (code.startsWith('SECAGG_') ||
        [
          'INVALID_INSTRUCTION',
          'INVALID_DP_CONFIG',
          'SHAPE_MISMATCH',
          'MISSING_TENSOR',
          'FOLD_HISTORY_INCOMPLETE',
          'MALFORMED_MESSAGE',
          // a securely aggregated round's masked input refused or lost: that round is over for this client
          'STALE_ROUND',
          'NOT_SELECTED',
          'UNEXPECTED_MESSAGE',
          'REQUEST_TIMEOUT',
          'CONNECTION_CLOSED',
          'TRANSFER_UNKNOWN',
          'TRANSFER_CHECKSUM',
        ].includes(code))
    ) {
      this.logger.log('error', 'round-failed', { round: roundId, code, message: err.message });
      return;
    }
    this.fail(err);
  }

  private async runRound(ins: MessageBody<'roundInstruction'>): Promise<void> {
    const trainer = this.trainer!;
    this.currentRound = ins.roundId;
    const deadlineAt = Date.now() + ins.deadlineMs;
    this.setPhase(ClientPhase.DOWNLOADING);
    const global = await this.waitForGlobal(ins.globalState.transferId, deadlineAt);
    // Stateful methods: the base must hold the folds the round asks for before anything runs on it.
    await this.folds.catchUp(trainer, ins.foldCount, ins.roundId, deadlineAt);
    if (ins.task === TaskKind.EVALUATE) {
      this.setPhase(ClientPhase.EVALUATING);
      const g = await trainer.evaluateWith(global);
      const personal = ins.evaluatePersonal ? trainer.personal() : null;
      const p = personal ? await trainer.evaluateWith(personal) : null;
      const peer = await this.joinedPeer();
      peer.send({
        kind: 'metrics',
        body: {
          roundId: ins.roundId,
          globalValLoss: g.loss,
          globalValPpl: g.perplexity,
          ...(p ? { personalValLoss: p.loss, personalValPpl: p.perplexity } : {}),
        },
      });
      this.setPhase(ClientPhase.IDLE);
      return;
    }
    this.setPhase(ClientPhase.TRAINING);
    const update = await trainer.train(
      {
        roundId: ins.roundId,
        localSteps: ins.localSteps,
        batchSize: ins.batchSize,
        learningRate: ins.learningRate,
        proximalMu: ins.proximalMu,
        linkIndex: ins.linkIndex,
        clientRank: ins.clientRank,
        evaluateGlobal: true,
        evaluatePersonal: ins.evaluatePersonal,
      },
      // Already folded into the base at the link change: train from the link's reset, not from it again.
      this.folds.isLastFold(ins.globalState.transferId, global) ? null : global,
      (fraction) => (this.progress = fraction),
    );
    this.logger.log('info', 'round-trained', {
      round: ins.roundId,
      steps: update.metrics.steps,
      trainLoss: update.metrics.trainLoss,
      globalValLoss: update.metrics.globalValLoss,
      personalValLoss: update.metrics.personalValLoss,
      computeMs: update.metrics.computeMs,
      // Classifiers only: the wire's Metrics carry losses; accuracy reaches the simulator's records this way.
      ...(update.metrics.globalValAccuracy != null
        ? { globalValAccuracy: update.metrics.globalValAccuracy }
        : {}),
      ...(update.metrics.personalValAccuracy != null
        ? { personalValAccuracy: update.metrics.personalValAccuracy }
        : {}),
    });
    // Client-side DP (distributed / local placement, or this client's own option) on the delta from the start.
    const noise = effectiveNoise(noiseRequestFromInstruction(ins.clientNoise), this.options.localDp);
    const protocol = this.protocolFor(ins);
    const priv =
      noise || protocol.needsDelta
        ? privatizeUpdate(
            update.shared,
            update.start,
            noise,
            (this.noise ??= this.options.noiseSource ?? cryptoGaussianSource()),
          )
        : null;
    if (priv?.clipped) this.logger.log('info', 'update-clipped', { round: ins.roundId, norm: priv.norm });
    // The private-state write, once for every protocol (a protocol adds its own writes to the same step).
    const persistState = (alsoWrite?: () => Promise<void>) =>
      this.persistTrainerState(trainer, ins.roundId, alsoWrite);
    await protocol.submit(ins, update, priv, persistState);
  }

  private async persistTrainerState(
    trainer: ClientTrainer,
    roundId: number,
    alsoWrite?: () => Promise<void>,
  ): Promise<void> {
    const state = await trainer.exportPrivateState();
    await this.persist(async () => {
      await this.store.writeTensors('private', state.private);
      await this.store.writeTensors('optimizer', state.optimizer);
      if (state.personal) await this.store.writeTensors('personal', state.personal, String(roundId));
      await alsoWrite?.();
    });
  }

  /** Plain protocol: the upload is written to the store with the private state, then sent and committed. */
  private async plainSubmit(
    ins: Instruction,
    update: LocalUpdate,
    priv: PrivatizedUpdate | null,
    persistState: (alsoWrite?: () => Promise<void>) => Promise<void>,
  ): Promise<void> {
    const shared = priv ? priv.tensors : update.shared;
    this.meta.transferCounter++;
    const meta: PendingUpload = {
      roundId: ins.roundId,
      transferId: `up-r${ins.roundId}-${this.meta.transferCounter}`,
      chunkBytes: this.limits?.chunkBytes || DEFAULT_CHUNK_BYTES,
      float16: this.options.float16Uploads ?? false,
      numExamples: update.numExamples,
      weight: update.numExamples,
      metrics: update.metrics,
      trainedExtents: [...update.trainedExtents].map(([tensor, extent]) => ({ tensor, extent })),
      norms: [...update.norms].map(([tensor, norm]) => ({ tensor, norm })),
    };
    this.pending = { meta, tensors: shared, update };
    // The upload's bytes are on disk before its first chunk leaves, so a restart resends the same bytes.
    await persistState(async () => {
      await this.store.writeTensors('upload', shared, meta.transferId);
      this.meta.upload = meta;
      await this.store.writeMeta(this.meta);
    });
    this.startUpload();
    await this.uploadTask;
  }

  // ---- upload and commit ----------------------------------------------------------------------------------

  private startUpload(): void {
    if (this.uploadTask) return;
    this.uploadTask = this.uploadAndCommit()
      .catch((err: unknown) => {
        if (errorCode(err) !== 'CLIENT_STOPPED') this.fail(err);
      })
      .finally(() => {
        this.uploadTask = undefined;
      });
  }

  private async uploadAndCommit(): Promise<void> {
    let attempts = 0;
    while (this.pending) {
      const p = this.pending;
      const peer = await this.joinedPeer();
      this.setPhase(ClientPhase.UPLOADING);
      this.currentRound = p.meta.roundId;
      attempts++;
      try {
        await this.sendUpload(peer, p);
      } catch (err) {
        const code = errorCode(err);
        if (code === 'MALFORMED_MESSAGE' || code === 'TRANSFER_UNKNOWN') {
          // The coordinator no longer takes this transfer id: it may already hold it whole (we crashed
          // before the commit, or missed the receipt), so commit; a TRANSFER_UNKNOWN reply means send anew.
          this.logger.log('info', 'upload-not-resumable', { transfer: p.meta.transferId, code });
        } else if (await this.onUploadError(err, p, attempts)) continue;
        else return;
      }
      try {
        const reply = await peer.request({
          kind: 'updateCommit',
          body: {
            roundId: p.meta.roundId,
            transferId: p.meta.transferId,
            numExamples: p.meta.numExamples,
            weight: p.meta.weight,
            trainMetrics: {
              roundId: p.meta.roundId,
              steps: p.meta.metrics.steps,
              computeMs: Math.round(p.meta.metrics.computeMs),
              trainLoss: p.meta.metrics.trainLoss,
              globalValLoss: p.meta.metrics.globalValLoss,
              globalValPpl: p.meta.metrics.globalValPpl,
              personalValLoss: p.meta.metrics.personalValLoss,
              personalValPpl: p.meta.metrics.personalValPpl,
              bytesSent: peer.bytesSent,
              bytesReceived: peer.bytesReceived,
            },
            trainedExtents: p.meta.trainedExtents,
            aggregationNorms: p.meta.norms ?? [],
          },
        });
        if (reply.message.kind !== 'updateReceipt') {
          throw new FedpeftError(
            'UNEXPECTED_MESSAGE',
            `the coordinator answered update_commit with ${reply.message.kind}`,
          );
        }
        await this.onCommitted(p);
        return;
      } catch (err) {
        if (await this.onUploadError(err, p, attempts)) continue;
        return;
      }
    }
  }

  private async sendUpload(peer: Peer, p: Pending): Promise<void> {
    const transfer = OutgoingTransfer.fromHostTensors(p.meta.transferId, p.tensors, {
      chunkBytes: p.meta.chunkBytes,
      float16: p.meta.float16,
    });
    const resumeFrom = this.resumeUploads.get(p.meta.transferId);
    if (resumeFrom?.complete) {
      // The coordinator holds the whole upload (we stopped before committing it): only the commit is missing.
      this.resumeUploads.delete(p.meta.transferId);
      this.logger.log('info', 'upload-already-complete', {
        round: p.meta.roundId,
        transfer: p.meta.transferId,
      });
      return;
    }
    const toSend = resumeFrom ? transfer.pendingAfter(resumeFrom).length : transfer.chunkCount;
    this.logger.log('info', 'upload-started', {
      round: p.meta.roundId,
      transfer: p.meta.transferId,
      chunks: transfer.chunkCount,
      bytes: transfer.manifest.totalBytes,
      resumedFrom: resumeFrom?.contiguousCount ?? 0,
      toSend,
    });
    await peer.sendTransfer(transfer, {
      announce: true,
      ...(resumeFrom ? { resumeFrom } : {}),
      window: this.limits?.maxInFlightChunks || 8,
      onProgress: (done, total) => {
        this.progress = total === 0 ? 1 : done / total;
        this.options.onUploadProgress?.(done, total, p.meta.transferId);
      },
    });
    this.resumeUploads.delete(p.meta.transferId);
  }

  /** Returns true to try again, false when the update was given up. */
  private async onUploadError(err: unknown, p: Pending, attempts: number): Promise<boolean> {
    const code = errorCode(err);
    const message = (err as Error).message;
    const action = errorAction(code);
    const fields = {
      round: p.meta.roundId,
      transfer: p.meta.transferId,
      code,
      message: message.slice(0, 300),
    };
    if (code === 'CLIENT_STOPPED') throw err;
    switch (action) {
      case 'retry': {
        if (code === 'CONNECTION_CLOSED') {
          this.logger.log('info', 'upload-interrupted', fields);
          return true;
        }
        const delay = this.backoff.next();
        this.logger.log('warn', 'upload-retry', { ...fields, retryInMs: delay });
        await sleep(delay);
        // The coordinator could not store the update and dropped the upload: send it again under a new id.
        if (code === 'STORAGE_UNAVAILABLE') await this.renewTransferId(p);
        return true;
      }
      case 'resend': {
        if (attempts > 5) {
          this.logger.log('error', 'upload-abandoned', fields);
          this.dropUpload(`it failed ${attempts} times`);
          return false;
        }
        if (code !== 'TRANSFER_INCOMPLETE') await this.renewTransferId(p);
        this.logger.log('warn', 'upload-resend', fields);
        return true;
      }
      case 'rejoin':
        this.logger.log('warn', 'upload-session-lost', fields);
        this.peer?.close('session lost');
        return true;
      case 'fatal':
        this.fail(new FedpeftError(code, `${message} — ${fatalAdvice(code)}`));
        return false;
      case 'skip-round':
        this.logger.log('warn', 'update-not-counted', fields);
        this.dropUpload(`the coordinator will not count it (${code})`);
        return false;
      case 'drop-update':
        this.logger.log('error', 'update-refused', fields);
        this.dropUpload(`the coordinator refused it (${code})`);
        return false;
    }
  }

  private async renewTransferId(p: Pending): Promise<void> {
    this.meta.transferCounter++;
    p.meta.transferId = `up-r${p.meta.roundId}-${this.meta.transferCounter}`;
    await this.persist(async () => {
      await this.store.writeTensors('upload', p.tensors, p.meta.transferId);
      this.meta.upload = p.meta;
      await this.store.writeMeta(this.meta);
    });
  }

  private async onCommitted(p: Pending): Promise<void> {
    this.pending = null;
    this.meta.lastCommittedRound = Math.max(this.meta.lastCommittedRound, p.meta.roundId);
    this.meta.upload = null;
    this.committed.push(p.meta.roundId);
    this.setPhase(ClientPhase.IDLE);
    await this.persist(async () => {
      await this.store.writeMeta(this.meta);
      await this.store.deleteTensors('upload');
    });
    this.logger.log('info', 'update-committed', {
      round: p.meta.roundId,
      transfer: p.meta.transferId,
      weight: p.meta.weight,
    });
    this.options.onRoundCommitted?.(p.meta.roundId, {
      transferId: p.meta.transferId,
      shared: p.tensors,
      weight: p.meta.weight,
      update: p.update,
      ...(p.meta.norms && p.meta.norms.length > 0
        ? { norms: new Map(p.meta.norms.map((n) => [n.tensor, n.norm])) }
        : {}),
    });
  }

  private dropUpload(why: string): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    this.meta.upload = null;
    this.setPhase(ClientPhase.IDLE);
    this.logger.log('info', 'update-dropped', { round: p.meta.roundId, transfer: p.meta.transferId, why });
    void this.persist(async () => {
      await this.store.writeMeta(this.meta);
      await this.store.deleteTensors('upload');
    });
  }

  // ---- state ----------------------------------------------------------------------------------------------

  /**
   * Store writes run one at a time, in order (meta must never be overwritten by an older copy). The returned
   * promise never rejects: a failed write stops the client (`fail`), which the run loop reports.
   */
  private persist(write: () => Promise<void>): Promise<void> {
    this.persistChain = this.persistChain.then(write).catch((err: unknown) => this.fail(err));
    return this.persistChain;
  }

  private async restore(): Promise<void> {
    const stored = await this.store.readMeta();
    this.meta = stored ?? emptyClientState();
    if (this.meta.session && this.meta.session.serverUrl !== this.options.connector.label) {
      this.logger.log('info', 'state-of-another-server', {
        stored: this.meta.session.serverUrl,
        server: this.options.connector.label,
      });
      this.meta.session = null;
      this.meta.upload = null;
    }
    const run = this.options.run ?? (this.meta.run ? runFromRecord(this.meta.run) : undefined);
    if (run) {
      this.trainer = await this.options.createTrainer(run);
      this.trainerRun = run;
      if (this.meta.run && sameRun(runFromRecord(this.meta.run), run)) await this.restoreTrainerState();
    }
    const global = await this.store.readTensors('global');
    if (global && global.tag !== '') this.heldGlobal = { transferId: global.tag, tensors: global.tensors };
    if (this.meta.upload) {
      const upload = await this.store.readTensors('upload');
      if (upload && upload.tag === this.meta.upload.transferId) {
        this.pending = { meta: this.meta.upload, tensors: upload.tensors, update: null };
        this.logger.log('info', 'upload-restored', {
          round: this.meta.upload.roundId,
          transfer: this.meta.upload.transferId,
        });
      } else {
        this.meta.upload = null;
      }
    }
    if (stored) {
      this.logger.log('info', 'state-restored', {
        store: this.store.location,
        session: this.meta.session?.sessionId ?? null,
        lastCommittedRound: this.meta.lastCommittedRound,
        pendingUpload: this.pending?.meta.transferId ?? null,
      });
    }
  }

  private async restoreTrainerState(): Promise<void> {
    const trainer = this.trainer!;
    const [priv, optimizer, personal] = await Promise.all([
      this.store.readTensors('private'),
      this.store.readTensors('optimizer'),
      this.store.readTensors('personal'),
    ]);
    try {
      trainer.importPrivateState({
        ...(priv ? { private: priv.tensors } : {}),
        ...(optimizer ? { optimizer: optimizer.tensors } : {}),
        ...(personal ? { personal: personal.tensors } : {}),
      });
    } catch (err) {
      // State from another method version: start the private state over rather than refuse to run.
      this.logger.log('warn', 'private-state-discarded', { message: (err as Error).message });
    }
  }

  private async resetRunState(): Promise<void> {
    this.meta = { ...emptyClientState(), transferCounter: this.meta.transferCounter };
    this.heldGlobal = null;
    this.pending = null;
    await this.persist(async () => {
      for (const set of ['private', 'optimizer', 'personal', 'upload', 'global'] as const)
        await this.store.deleteTensors(set);
      await this.store.writeMeta(this.meta);
    });
    this.trainer?.dispose();
    this.trainer = undefined;
  }

  private setPhase(phase: ClientPhase): void {
    this.phase = phase;
    this.progress = 0;
  }

  private async finishRun(peer: Peer): Promise<void> {
    // The final global state may still be downloading: give it a moment, it is the run's result.
    const open = this.inbox.pendingAcks();
    if (open.length > 0) {
      await Promise.race([
        new Promise<void>((resolve) => {
          const list = this.downloadWaiters.get(open[0]!.transferId) ?? [];
          list.push(resolve);
          this.downloadWaiters.set(open[0]!.transferId, list);
        }),
        sleep(10_000),
      ]);
    }
    this.runComplete = true;
    await this.persistChain;
    this.logger.log('info', 'run-complete', { lastCommittedRound: this.meta.lastCommittedRound });
    this.cancelWaiting();
    peer.close('run complete');
  }

  private fail(err: unknown): void {
    if (this.fatal) return;
    this.fatal = err instanceof Error ? err : new Error(String(err));
    this.logger.log('error', 'client-stopped', { code: errorCode(err), message: this.fatal.message });
    this.cancelWaiting();
    this.peer?.close('client error');
  }
}
