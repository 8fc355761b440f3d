/**
 * One round, start to end: sample among the connected, signed, eligible clients (the strategy's sampler, by
 * stable client id), open (journal the sample, pick the link and the reference state, open the update
 * protocol's collection), arm (deadline, instructions, drop timers), watch quorum through the protocol,
 * close (aggregate, fold history, checkpoint, metrics), broadcast the new global, and finish the run.
 */
import type { LinkSchedule } from '../../shared/adapters/link-schedule.ts';
import { isFedpeftError } from '../../shared/errors.ts';
import { DpPlacement, TaskKind, type ChunkAck } from '../../shared/wire/messages.ts';
import type { ClientSession } from '../client-session.ts';
import type { CoordinatorConfig } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { MethodState } from '../method-state.ts';
import { meanOf, type MetricsLog, type RoundSummary } from '../metrics-log.ts';
import type { Eligibility } from '../participation/eligibility.ts';
import { traitsOf } from '../participation/eligibility.ts';
import type { RoundJournal } from '../round-journal.ts';
import type { ClientNoiseRequest, Strategy } from '../strategies/strategy.ts';
import type { ProtocolHost, RoundHost, UpdateProtocol } from '../update-protocols/update-protocol.ts';
import type { RunState, TaskQueue } from './engine-state.ts';
import type { FoldHistory } from './fold-history.ts';
import type { ActiveRound, ClientRoundSettings } from './round-state.ts';
import type { SessionRegistry } from './sessions.ts';
import type { Transfers } from './transfers.ts';
import { aggregateRejection } from '../limits/aggregate-check.ts';
import { checkUpdateRound } from './update-intake.ts';

export interface LifecycleParts {
  runId: string;
  config: CoordinatorConfig;
  method: MethodState;
  logger: Logger;
  state: RunState;
  queue: TaskQueue;
  strategy: Strategy;
  protocol: UpdateProtocol;
  sessions: SessionRegistry;
  transfers: Transfers;
  folds: FoldHistory;
  schedule: LinkSchedule | null;
  journal: RoundJournal | null;
  metrics: MetricsLog;
  eligibility: Eligibility;
  /**
   * Signed sessions that are not connected are candidates too (the program can wake them, as the simulator
   * wakes its virtual clients); a sampled one that is not connected at arm time waits until it connects or
   * the deadline, instead of being dropped after `dropAfterMs`.
   */
  wakeable: boolean;
  /** Writes the checkpoint of the round that just closed. */
  checkpoint(): Promise<void>;
  onClosed(summary: RoundSummary): void;
  onFinished(): void;
}

const PLACEMENT: Record<ClientNoiseRequest['placement'], DpPlacement> = {
  central: DpPlacement.CENTRAL,
  distributed: DpPlacement.DISTRIBUTED,
  local: DpPlacement.LOCAL,
};

export class RoundLifecycle {
  private waitingLogged = false;
  readonly protocolHost: ProtocolHost;

  constructor(private readonly p: LifecycleParts) {
    this.protocolHost = {
      config: p.config,
      method: p.method,
      logger: p.logger,
      journal: p.journal,
      session: (id) => p.sessions.get(id),
      checkUpdateRound: (session, roundId) =>
        checkUpdateRound(session.id, roundId, p.state.active, p.state.lastClosed, p.state.completed),
    };
  }

  tryStartRound(): void | Promise<void> {
    const { state, config, strategy, logger } = this.p;
    if (!state.started || state.active || state.over) return;
    const round = state.completed + 1;
    if (round > config.run.rounds) return this.finish();
    const stableIds = this.p.sessions.stableIds();
    const bySessionId = new Map<string, string>();
    const candidates = [];
    const pool = this.p.wakeable ? [...this.p.sessions.sessions.values()] : this.p.sessions.connected();
    for (const s of pool) {
      if (!s.signed) continue;
      const clientId = stableIds.get(s.id)!;
      if (!this.p.eligibility.allows({ clientId, traits: traitsOf(s.capabilities) }, round)) continue;
      bySessionId.set(clientId, s.id);
      candidates.push({ id: clientId });
    }
    let instructions;
    try {
      instructions = strategy.configureRound({ round, clients: candidates });
    } catch (err) {
      if (isFedpeftError(err) && err.code === 'DP_BUDGET_EXHAUSTED') {
        logger.log('warn', 'privacy-budget-exhausted', { round, message: err.message });
        return this.finish();
      }
      // Secure aggregation needs at least 2 clients per round: wait for them like for minClients.
      if (
        isFedpeftError(err) &&
        (err.code === 'STRATEGY_NOT_ENOUGH_CLIENTS' || err.code === 'SECAGG_TOO_FEW_CLIENTS')
      ) {
        state.phase = 'waiting-for-clients';
        if (!this.waitingLogged) logger.log('info', 'waiting-for-clients', { round, message: err.message });
        this.waitingLogged = true;
        return;
      }
      throw err;
    }
    this.waitingLogged = false;
    const settings = new Map<string, ClientRoundSettings>();
    for (const i of instructions) {
      const sessionId = bySessionId.get(i.clientId) ?? i.clientId;
      settings.set(sessionId, {
        ...(i.proximalMu !== undefined ? { proximalMu: i.proximalMu } : {}),
        ...(i.clientNoise ? { clientNoise: i.clientNoise } : {}),
        ...(i.extra ? { extra: { ...i.extra } } : {}),
      });
    }
    return this.openRound(round, settings, []);
  }

  async openRound(
    round: number,
    settings: Map<string, ClientRoundSettings>,
    replay: Awaited<ReturnType<RoundJournal['read']>>,
  ): Promise<void> {
    const { state, journal, schedule, method, config } = this.p;
    if (journal && replay.length === 0) await journal.writeSample(round, Object.fromEntries(settings));
    const now = Date.now();
    const linkIndex = schedule ? schedule.linkAt(round - 1) : 0;
    // The first round of a new link: every client folds the previous link's aggregate into its base and
    // restarts the link's tensors (`setLink`), so updates are relative to that reset, not to the old global.
    const reference = linkIndex > state.globalLink ? method.linkStart(linkIndex) : state.global;
    const context = { round, global: reference, rules: method.rules };
    const r = {
      id: round,
      startedAt: now,
      deadlineAt: now + config.round.deadlineMs,
      linkIndex,
      foldCount: this.p.folds.count,
      reference,
      sampled: new Set(settings.keys()),
      committed: new Map(),
      dropped: new Set<string>(),
      settings,
      reports: new Map(),
      clientRanks: new Map(),
      bytesAtStart: this.p.sessions.trafficTotals(),
      timer: undefined,
      dropTimers: new Map(),
      closing: false,
    } as Omit<ActiveRound, 'collector'> as ActiveRound;
    r.collector = this.p.protocol.open(context, [...settings.keys()], this.roundHost(r));
    r.collector.replay(replay);
    state.active = r;
    state.phase = 'training';
    this.p.logger.log('info', 'round-started', {
      round,
      sampled: r.sampled.size,
      replayed: r.committed.size,
      linkIndex: r.linkIndex,
      protocol: this.p.protocol.name,
      deadlineMs: config.round.deadlineMs,
    });
    if (state.started) this.armRound(r);
  }

  private roundHost(r: ActiveRound): RoundHost {
    return {
      ...this.protocolHost,
      round: r,
      isLive: () => !r.closing && this.p.state.active === r && this.p.state.started,
      close: (reason) => {
        if (r.closing) return;
        r.closing = true;
        this.p.queue.enqueue(() => this.closeRound(r, reason));
      },
      closeNow: (reason) => {
        r.closing = true;
        return this.closeRound(r, reason);
      },
      enqueue: (task) => this.p.queue.enqueue(task),
    };
  }

  /** Starts the deadline, sends instructions to connected sampled clients, and drop timers for the others. */
  armRound(r: ActiveRound): void {
    clearTimeout(r.timer);
    r.timer = setTimeout(
      () =>
        this.p.queue.enqueue(() => {
          if (this.p.state.active !== r || r.closing) return;
          return r.collector.deadline();
        }),
      Math.max(0, r.deadlineAt - Date.now()),
    );
    r.collector.armed();
    for (const id of r.sampled) {
      const session = this.p.sessions.get(id);
      if (!session || r.committed.has(id)) continue;
      if (session.connected) this.sendInstruction(r, session);
      else if (!this.p.wakeable) this.scheduleDrop(session);
    }
    this.checkClose(r);
  }

  /** A client (re)joined with a valid signature: instruct it if it is sampled and owes an update. */
  onSignedJoin(session: ClientSession, resumeDownloads: readonly ChunkAck[]): void {
    const r = this.p.state.active;
    if (r && r.sampled.has(session.id) && !r.committed.has(session.id) && !r.dropped.has(session.id)) {
      const id = this.p.transfers.globalManifest.transferId;
      this.sendInstruction(
        r,
        session,
        resumeDownloads.find((a) => a.transferId === id),
      );
    } else if (!r && this.p.state.started) {
      this.p.queue.enqueue(() => this.tryStartRound());
    }
  }

  private sendInstruction(r: ActiveRound, session: ClientSession, resumeAck?: ChunkAck): void {
    const peer = session.peer;
    if (!peer?.isOpen) return;
    const rc = this.p.config.round;
    const s = r.settings.get(session.id) ?? {};
    peer.send({
      kind: 'roundInstruction',
      body: {
        roundId: r.id,
        task: TaskKind.TRAIN,
        deadlineMs: Math.max(1, r.deadlineAt - Date.now()),
        localSteps: rc.localSteps,
        batchSize: rc.batchSize,
        learningRate: rc.learningRate,
        hyperparamsJson: JSON.stringify({ ...rc.hyperparams, ...s.extra }),
        clientRank: this.clientRankFor(r, session),
        linkIndex: r.linkIndex,
        globalState: this.p.transfers.globalManifest,
        ...r.collector.instructionFor(session.id),
        evaluatePersonal: rc.evaluatePersonal,
        foldCount: r.foldCount,
        proximalMu: s.proximalMu ?? 0,
        clientNoise: s.clientNoise
          ? {
              placement: PLACEMENT[s.clientNoise.placement],
              clipNorm: s.clientNoise.clipNorm,
              noiseStd: s.clientNoise.noiseStd,
            }
          : null,
      },
    });
    this.p.transfers.sendGlobal(session, resumeAck);
  }

  /**
   * The nested rank for this client in round `r`: for methods with heterogeneous ranks, its advertised
   * `max_rank` capped at the method's r (0 = the method's rank: no limit advertised, or r itself). A protocol
   * without nested ranks (secure aggregation) trains everyone at full rank.
   */
  private clientRankFor(r: ActiveRound, session: ClientSession): number {
    const known = r.clientRanks.get(session.id);
    if (known !== undefined) return known;
    const max = session.capabilities?.maxRank ?? 0;
    const full = this.p.method.rank;
    const nested = this.p.method.heterogeneousRanks && this.p.protocol.nestedRanks;
    const rank = !nested || max === 0 || full === 0 || max >= full ? 0 : max;
    r.clientRanks.set(session.id, rank);
    return rank;
  }

  /** A session lost its connection: drop it from the round after `dropAfterMs`; phases may end now. */
  onDisconnect(session: ClientSession): void {
    this.scheduleDrop(session);
    const r = this.p.state.active;
    if (r) this.p.queue.enqueue(() => this.checkClose(r));
  }

  private scheduleDrop(session: ClientSession): void {
    const r = this.p.state.active;
    if (!r || !r.sampled.has(session.id) || r.committed.has(session.id) || r.dropped.has(session.id)) return;
    if (r.dropTimers.has(session.id)) return;
    const timer = setTimeout(() => {
      r.dropTimers.delete(session.id);
      if (session.connected || this.p.state.active !== r || r.committed.has(session.id)) return;
      r.dropped.add(session.id);
      session.inbox.abandonAll(); // its partial upload can no longer count
      this.p.logger.log('info', 'client-dropped', {
        round: r.id,
        session: session.id,
        reason: 'disconnected',
      });
      this.checkClose(r);
    }, this.p.config.round.dropAfterMs);
    timer.unref?.();
    r.dropTimers.set(session.id, timer);
  }

  /** A session reconnected: it is no longer about to be dropped. */
  cancelDrop(session: ClientSession): void {
    const r = this.p.state.active;
    const t = r?.dropTimers.get(session.id);
    if (t) {
      clearTimeout(t);
      r!.dropTimers.delete(session.id);
    }
  }

  checkClose(r: ActiveRound): void {
    if (r.closing || this.p.state.active !== r || !this.p.state.started) return;
    r.collector.progress();
  }

  async closeRound(r: ActiveRound, reason: string): Promise<void> {
    const { state, config, sessions } = this.p;
    if (state.active !== r) return;
    clearTimeout(r.timer);
    for (const t of r.dropTimers.values()) clearTimeout(t);
    r.collector.dispose();
    state.active = undefined;
    const committedIds = new Set(r.committed.keys());
    state.lastClosed = { id: r.id, sampled: r.sampled, committed: committedIds };
    for (const id of r.sampled) {
      if (committedIds.has(id)) continue;
      const s = sessions.get(id);
      for (const ack of s?.inbox.pendingAcks() ?? []) s!.inbox.abandon(ack.transferId);
    }
    let aggregated = false;
    let strategyMetrics: Record<string, number> = {};
    if (r.committed.size >= config.round.minUpdates) {
      // Restored when the aggregate is rejected, so a refused round does not advance server momentum.
      const strategyBefore = this.p.strategy.exportState();
      const outcome = await r.collector.finish();
      const rejection = outcome && aggregateRejection(r.reference, outcome.global, config.limits);
      if (rejection) {
        this.p.strategy.importState(strategyBefore);
        strategyMetrics = { aggregateRejected: 1 };
        this.p.logger.log('warn', 'aggregate-rejected', {
          round: r.id,
          code: rejection.code,
          message: rejection.message,
        });
      } else if (outcome) {
        aggregated = true;
        state.global = outcome.global;
        state.globalLink = r.linkIndex;
        strategyMetrics = outcome.metrics;
      }
    }
    if (!aggregated && r.linkIndex > state.globalLink) {
      // Clients already folded the previous link and reset: the global must be the new link's start too.
      state.global = r.reference;
      state.globalLink = r.linkIndex;
    }
    state.completed = r.id;
    this.p.transfers.publishGlobal(state.completed, state.global);
    // The fold is on disk before the checkpoint that counts it.
    await this.p.folds.afterRound(r.id, aggregated, state.global);
    await this.p.checkpoint();
    await this.p.journal?.clearThrough(r.id);
    const summary = this.summarize(r, aggregated, strategyMetrics);
    state.lastSummary = summary;
    await this.p.metrics.append(summary);
    this.p.logger.log('info', 'round-closed', { reason, ...summary });
    this.p.onClosed(summary);
    this.broadcastGlobal(summary);
    if (state.completed >= config.run.rounds) await this.finish();
    else this.p.queue.enqueue(() => this.tryStartRound());
  }

  private summarize(r: ActiveRound, aggregated: boolean, strategy: Record<string, number>): RoundSummary {
    const traffic = this.p.sessions.trafficTotals();
    const updates = [...r.committed.entries()];
    return {
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
      strategy,
    };
  }

  private broadcastGlobal(summary: RoundSummary): void {
    const { schedule, state } = this.p;
    const nextLink = schedule ? schedule.linkAt(state.completed) : 0;
    for (const s of this.p.sessions.connected()) {
      s.peer!.send({
        kind: 'globalState',
        body: {
          roundId: summary.round,
          state: this.p.transfers.globalManifest,
          linkIndex: nextLink,
          foldCount: this.p.folds.count,
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

  async finish(): Promise<void> {
    const { state } = this.p;
    if (state.phase === 'finished') return;
    state.phase = 'finished';
    this.p.logger.log('info', 'run-finished', { runId: this.p.runId, rounds: state.completed });
    for (const s of this.p.sessions.sessions.values()) {
      s.peer?.send({ kind: 'goodbye', body: { reason: `run ${this.p.runId} finished`, runComplete: true } });
    }
    this.p.onFinished();
    await Promise.resolve();
  }
}
