/**
 * The secure-aggregation update protocol (Bonawitz et al., CCS 2017; Flower's SecAgg+ workflow is the model):
 * a round runs the four phases of `SecureRound` (server/privacy/secure-aggregation.ts) — advertise keys,
 * share keys, masked input, unmask — driven by client messages, a timer per phase and the round deadline.
 * Only masked vectors and their sum are ever held. Wire messages are those of shared/privacy/secagg.
 *
 * Phase ends: a phase closes when nobody it awaits is left (dropped clients never count; in the unmask phase
 * only connected survivors are awaited), the masked-input phase also at quorum; a phase that runs out of time
 * closes with whoever answered; the deadline before the masked inputs aborts the round.
 */
import { FedpeftError } from '../../shared/errors.ts';
import type { Frame, MessageBody } from '../../shared/wire/messages.ts';
import type { ClientSession } from '../client-session.ts';
import { toProtocolError } from '../engine/update-intake.ts';
import type { MethodState } from '../method-state.ts';
import {
  SecureAggregation,
  type SecAggClientRecord,
  type SecureRound,
} from '../privacy/secure-aggregation.ts';
import type { AggregateContext, AggregateOutcome, Strategy } from '../strategies/strategy.ts';
import { quorumOf } from './plain.ts';
import type {
  ProtocolHost,
  RoundCollector,
  RoundHost,
  UpdateMessage,
  UpdateProtocol,
} from './update-protocol.ts';

const SECAGG_KINDS = [
  'secaggAdvertiseKeys',
  'secaggShareKeys',
  'secaggMaskedInput',
  'secaggUnmaskResponse',
  'updateCommit',
] as const;

function reject(
  host: ProtocolHost,
  session: ClientSession,
  frame: Frame,
  kind: string,
  roundId: number,
  err: unknown,
  transferId?: string,
): void {
  const e = toProtocolError(err);
  host.logger.log('warn', 'secagg-rejected', {
    round: roundId,
    session: session.id,
    kind,
    code: e.code,
    message: e.message.slice(0, 300),
  });
  session.peer?.sendError(e, { roundId, inReplyTo: frame.requestId, ...(transferId ? { transferId } : {}) });
}

function roundIdOf(message: UpdateMessage): number {
  const body = message.body as { roundId?: number };
  return body.roundId ?? 0;
}

function notSecureRound(roundId: number, current: number | null): FedpeftError {
  return new FedpeftError(
    current !== null && roundId < current ? 'STALE_ROUND' : 'UNEXPECTED_MESSAGE',
    `round ${roundId} is not an open securely aggregated round (current: ${current ?? 'none'})`,
  );
}

class SecureCollector implements RoundCollector {
  private phaseTimer: ReturnType<typeof setTimeout> | undefined;
  private aborted = false;

  constructor(
    private readonly secure: SecureRound,
    private readonly host: RoundHost,
  ) {}

  instructionFor(sessionId: string): ReturnType<RoundCollector['instructionFor']> {
    return { secureAggregation: this.secure.configFor(sessionId) };
  }

  replay(): void {
    // Masked inputs are not journaled: a restarted secure round starts its phases again.
  }

  armed(): void {
    if (this.secure.phase === 'advertise-keys') this.armPhase();
  }

  handle(session: ClientSession, frame: Frame, message: UpdateMessage): void {
    const roundId = roundIdOf(message);
    if (message.kind === 'updateCommit') {
      reject(
        this.host,
        session,
        frame,
        message.kind,
        roundId,
        new FedpeftError(
          'UNEXPECTED_MESSAGE',
          `round ${this.host.round.id} is securely aggregated: send secagg_masked_input, not update_commit`,
        ),
        message.body.transferId,
      );
      return;
    }
    if (message.kind === 'secaggMaskedInput') {
      this.handleMaskedInput(session, frame, message.body);
      return;
    }
    try {
      this.checkRound(session, roundId);
      const record = { kind: message.kind, body: message.body } as SecAggClientRecord;
      this.secure.receive(session.id, record);
      this.host.logger.log('debug', 'secagg-received', {
        round: roundId,
        session: session.id,
        kind: message.kind,
      });
      this.progress();
    } catch (err) {
      reject(this.host, session, frame, message.kind, roundId, err);
    }
  }

  private checkRound(session: ClientSession, roundId: number): void {
    const r = this.host.round;
    if (r.id !== roundId) throw notSecureRound(roundId, r.id);
    if (this.aborted) throw new FedpeftError('SECAGG_ABORTED', `round ${r.id}'s secure aggregation failed`);
    if (!r.sampled.has(session.id)) {
      throw new FedpeftError('NOT_SELECTED', `this client was not sampled for round ${r.id}`);
    }
  }

  /** A masked input: its transfer must be complete; the reply is an `update_receipt` for that transfer. */
  private handleMaskedInput(
    session: ClientSession,
    frame: Frame,
    body: MessageBody<'secaggMaskedInput'>,
  ): void {
    const r = this.host.round;
    try {
      this.checkRound(session, body.roundId);
      const previous = r.committed.get(session.id);
      if (previous) {
        if (previous.transferId !== body.transferId) {
          throw new FedpeftError(
            'UNEXPECTED_MESSAGE',
            `this client already sent its masked input for round ${r.id}`,
          );
        }
      } else {
        const receiver = session.inbox.get(body.transferId);
        if (receiver && !receiver.complete) session.inbox.take(body.transferId); // TRANSFER_INCOMPLETE
        const tensors = session.inbox.take(body.transferId).tensors();
        this.secure.receive(session.id, { kind: 'secaggMaskedInput', body, tensors });
        r.committed.set(session.id, {
          transferId: body.transferId,
          weight: body.weight,
          trainLoss: null,
          globalValLoss: null,
          personalValLoss: null,
        });
        session.record.lastCommittedRound = r.id;
        this.host.logger.log('info', 'masked-input-accepted', {
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
      this.progress();
    } catch (err) {
      if (toProtocolError(err).code !== 'TRANSFER_INCOMPLETE') session.inbox.abandon(body.transferId);
      reject(this.host, session, frame, 'secaggMaskedInput', body.roundId, err, body.transferId);
    }
  }

  /** Participants the current phase still waits for (dropped ones never; in the unmask phase, connected only). */
  private awaited(): string[] {
    const r = this.host.round;
    return this.secure.awaiting.filter(
      (id) =>
        !r.dropped.has(id) && (this.secure.phase !== 'unmask' || this.host.session(id)?.connected === true),
    );
  }

  progress(): void {
    if (this.aborted || !this.host.isLive()) return;
    const r = this.host.round;
    const phase = this.secure.phase;
    const awaited = this.awaited();
    if (phase === 'masked-input') {
      const quorum = quorumOf(this.host.config.round.quorum, r.sampled.size);
      if (awaited.length === 0 || r.committed.size >= quorum) this.closePhase();
      return;
    }
    if (phase === 'unmask') {
      if (awaited.length === 0) this.end('all-unmasked');
      return;
    }
    if (awaited.length === 0) this.closePhase();
  }

  private armPhase(): void {
    clearTimeout(this.phaseTimer);
    this.phaseTimer = undefined;
    if (this.secure.phase === 'masked-input') return; // ends at the round deadline (or when all inputs are in)
    const timeout = this.host.config.privacy.secureAggregation?.phaseTimeoutMs ?? 30_000;
    this.phaseTimer = setTimeout(
      () =>
        this.host.enqueue(() => {
          if (this.aborted || !this.host.isLive()) return;
          if (this.secure.phase === 'unmask') this.end('unmask-timeout');
          else this.closePhase();
        }),
      timeout,
    );
    this.phaseTimer.unref?.();
  }

  private closePhase(): void {
    const r = this.host.round;
    const phase = this.secure.phase;
    clearTimeout(this.phaseTimer);
    let records;
    try {
      records = this.secure.closePhase();
    } catch (err) {
      this.abort(err);
      this.host.close('secagg-aborted');
      return;
    }
    for (const { clientId, message } of records) {
      const peer = this.host.session(clientId)?.peer;
      if (peer?.isOpen) peer.send(message);
    }
    this.host.logger.log('info', 'secagg-phase-closed', { round: r.id, phase, sent: records.length });
    this.armPhase();
    // A phase may close with nobody left to wait for in the next one (everyone already sent it).
    this.progress();
  }

  deadline(): void | Promise<void> {
    if (this.aborted || !this.host.isLive()) return;
    const phase = this.secure.phase;
    if (phase === 'masked-input') {
      this.closePhase();
      return;
    }
    if (phase === 'unmask') return; // its own timer ends it
    this.abort(
      new FedpeftError(
        'SECAGG_ABORTED',
        `round ${this.host.round.id}'s deadline passed before secure aggregation reached the masked inputs (phase ${phase})`,
      ),
    );
    return this.host.closeNow('deadline');
  }

  private end(reason: string): void {
    clearTimeout(this.phaseTimer);
    this.host.close(reason);
  }

  /** Marks the round's secure aggregation failed and tells its connected participants. */
  private abort(err: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    clearTimeout(this.phaseTimer);
    const r = this.host.round;
    const e = new FedpeftError('SECAGG_ABORTED', (err as Error).message ?? String(err));
    this.host.logger.log('warn', 'secagg-aborted', { round: r.id, message: e.message.slice(0, 300) });
    for (const id of r.sampled) this.host.session(id)?.peer?.sendError(e, { roundId: r.id });
  }

  async finish(): Promise<AggregateOutcome | null> {
    if (this.aborted) return null;
    try {
      return await this.secure.complete();
    } catch (err) {
      // Unmasking failed (too few shares): the round ends without changing the global state.
      this.abort(err);
      return null;
    }
  }

  dispose(): void {
    clearTimeout(this.phaseTimer);
  }
}

export class SecureAggregationUpdates implements UpdateProtocol {
  readonly name = 'secure-aggregation' as const;
  readonly messageKinds = new Set<UpdateMessage['kind']>(SECAGG_KINDS);
  readonly nestedRanks = false;
  private readonly strategy: SecureAggregation;

  constructor(strategy: Strategy) {
    if (!(strategy instanceof SecureAggregation)) {
      throw new FedpeftError(
        'SECAGG_INVALID_CONFIG',
        'the secure-aggregation update protocol needs the strategy wrapped by privacy.secureAggregation',
      );
    }
    this.strategy = strategy;
  }

  /** Refuses a method secure aggregation cannot sum (HetLoRA, FLoRA) at start, not in the first round. */
  checkMethod(method: MethodState): void {
    this.strategy.checkRules(method.rules);
  }

  open(context: AggregateContext, participants: readonly string[], host: RoundHost): RoundCollector {
    return new SecureCollector(this.strategy.beginAggregation(context, participants), host);
  }

  handleOutsideRound(session: ClientSession, frame: Frame, message: UpdateMessage, host: ProtocolHost): void {
    const roundId = roundIdOf(message);
    const transferId = (message.body as { transferId?: string }).transferId;
    if (message.kind === 'secaggMaskedInput' && transferId) session.inbox.abandon(transferId);
    reject(host, session, frame, message.kind, roundId, notSecureRound(roundId, null), transferId);
  }
}
