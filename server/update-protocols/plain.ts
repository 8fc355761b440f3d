/**
 * The plain update protocol: a client uploads its shared tensors as a chunked transfer and commits it with
 * `update_commit`; the coordinator validates it (`buildContribution`), journals it durably, folds it into the
 * strategy's streaming aggregation, and only then sends the `update_receipt`. The round ends at quorum, when nobody
 * is outstanding, or at the deadline.
 */
import { FedpeftError } from '../../shared/errors.ts';
import type { Frame, MessageBody } from '../../shared/wire/messages.ts';
import type { ClientSession } from '../client-session.ts';
import { buildContribution, toProtocolError } from '../engine/update-intake.ts';
import type { AggregateContext, RoundAggregation, Strategy } from '../strategies/strategy.ts';
import type {
  ProtocolHost,
  RoundCollector,
  RoundHost,
  UpdateMessage,
  UpdateProtocol,
} from './update-protocol.ts';

/** Quorum of a round with `sampled` participants: ceil(quorum * sampled), robust to float error. */
export function quorumOf(fraction: number, sampled: number): number {
  return Math.ceil(fraction * sampled - 1e-9);
}

function refuseCommit(
  host: ProtocolHost,
  session: ClientSession,
  frame: Frame,
  commit: MessageBody<'updateCommit'>,
  err: unknown,
): void {
  const e = toProtocolError(err);
  if (e.code !== 'TRANSFER_INCOMPLETE') session.inbox.abandon(commit.transferId);
  host.logger.log('warn', 'update-rejected', {
    round: commit.roundId,
    session: session.id,
    code: e.code,
    message: e.message.slice(0, 300),
  });
  session.peer?.sendError(e, {
    roundId: commit.roundId,
    transferId: commit.transferId,
    inReplyTo: frame.requestId,
  });
}

class PlainRound implements RoundCollector {
  constructor(
    private readonly aggregation: RoundAggregation,
    private readonly host: RoundHost,
  ) {}

  instructionFor(): { secureAggregation: null } {
    return { secureAggregation: null };
  }

  replay(entries: Parameters<RoundCollector['replay']>[0]): void {
    const r = this.host.round;
    for (const entry of entries) {
      try {
        this.aggregation.add({
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
        this.host.logger.log('error', 'journal-replay-failed', {
          round: r.id,
          session: entry.sessionId,
          message: (err as Error).message,
        });
      }
    }
  }

  armed(): void {}

  async handle(session: ClientSession, frame: Frame, message: UpdateMessage): Promise<void> {
    if (message.kind !== 'updateCommit') return;
    const commit = message.body;
    const host = this.host;
    const round = host.round;
    try {
      host.checkUpdateRound(session, commit.roundId);
      const previous = round.committed.get(session.id);
      if (previous) {
        if (previous.transferId === commit.transferId) {
          // The client missed our receipt (reconnect): repeat it.
          session.peer?.send(
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
      const receiver = session.inbox.take(commit.transferId);
      const contribution = buildContribution(
        session.id,
        receiver,
        commit,
        host.method,
        host.config.limits.maxExampleWeight,
      );
      const m = commit.trainMetrics;
      const committed = {
        transferId: commit.transferId,
        weight: contribution.weight,
        trainLoss: m?.trainLoss ?? null,
        globalValLoss: m?.globalValLoss ?? null,
        personalValLoss: m?.personalValLoss ?? null,
      };
      // Write-ahead (docs/durability.md): journaled in full before it touches the aggregate or is receipted;
      // a storage failure refuses it (STORAGE_UNAVAILABLE) with the aggregate unchanged.
      const journaled = await host.journal?.append({
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
      try {
        this.aggregation.add(contribution);
      } catch (err) {
        // Refused by the aggregate after all: it must not come back on replay either.
        await journaled?.discard().catch(() => undefined);
        throw toProtocolError(err);
      }
      round.committed.set(session.id, committed);
      session.record.lastCommittedRound = round.id;
      session.peer?.send(
        { kind: 'updateReceipt', body: { roundId: round.id, transferId: commit.transferId } },
        { inReplyTo: frame.requestId },
      );
      host.logger.log('info', 'update-accepted', {
        round: round.id,
        session: session.id,
        weight: contribution.weight,
        committed: round.committed.size,
        sampled: round.sampled.size,
      });
      this.progress();
    } catch (err) {
      refuseCommit(host, session, frame, commit, err);
    }
  }

  progress(): void {
    const r = this.host.round;
    if (!this.host.isLive()) return;
    const quorum = quorumOf(this.host.config.round.quorum, r.sampled.size);
    const outstanding = [...r.sampled].filter((id) => !r.committed.has(id) && !r.dropped.has(id));
    if (r.committed.size >= quorum || outstanding.length === 0) {
      this.host.close(r.committed.size >= quorum ? 'quorum' : 'all-reported');
    }
  }

  deadline(): Promise<void> {
    return this.host.closeNow('deadline');
  }

  finish(): Promise<ReturnType<RoundAggregation['finish']>> {
    return Promise.resolve(this.aggregation.finish());
  }

  dispose(): void {}
}

export class PlainUpdates implements UpdateProtocol {
  readonly name = 'plain' as const;
  readonly messageKinds = new Set(['updateCommit'] as const);
  readonly nestedRanks = true;

  constructor(private readonly strategy: Strategy) {}

  checkMethod(): void {
    // Every rule the strategy accepted at creation can be aggregated from plaintext updates.
  }

  open(context: AggregateContext, _participants: readonly string[], host: RoundHost): RoundCollector {
    return new PlainRound(this.strategy.beginAggregation(context), host);
  }

  handleOutsideRound(session: ClientSession, frame: Frame, message: UpdateMessage, host: ProtocolHost): void {
    if (message.kind !== 'updateCommit') return;
    try {
      host.checkUpdateRound(session, message.body.roundId);
      throw new FedpeftError('UNEXPECTED_MESSAGE', 'no round is open');
    } catch (err) {
      refuseCommit(host, session, frame, message.body, err);
    }
  }
}
