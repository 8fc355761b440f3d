/**
 * The update-protocol plug-in: how a round's client updates are collected and turned into the strategy's
 * aggregate input. The engine opens, arms and closes rounds; a protocol decides which client messages carry
 * updates, when the round has all it needs (quorum, phases), what the deadline means, and what the round's
 * outcome is. Two exist, chosen from configuration (`select.ts`):
 *
 * - `plain`: chunked upload + `update_commit`, each update validated, journaled and folded into the
 *   strategy's streaming aggregation as it arrives;
 * - `secure-aggregation`: the Bonawitz phases (advertise keys, share keys, masked input, unmask), modelled on
 *   Flower's SecAgg+ workflow; the coordinator only ever holds masked vectors and their sum.
 *
 * Protocols never touch sessions, transfers or checkpoints directly: they get a `RoundHost`.
 */
import type { AggregateContext, AggregateOutcome, Strategy } from '../strategies/strategy.ts';
import type { ClientSession } from '../client-session.ts';
import type { CoordinatorConfig } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { MethodState } from '../method-state.ts';
import type { RoundJournal } from '../round-journal.ts';
import type { ActiveRound } from '../engine/round-state.ts';
import type { Frame, MessageInput, MessageKind } from '../../shared/wire/messages.ts';

/** What a protocol needs from the engine, outside any round. */
export interface ProtocolHost {
  readonly config: CoordinatorConfig;
  readonly method: MethodState;
  readonly logger: Logger;
  readonly journal: RoundJournal | null;
  session(id: string): ClientSession | undefined;
  /**
   * Throws the protocol error for an update of `roundId` from `session` that the open round (if any) cannot
   * take: FUTURE_ROUND, STALE_ROUND, DEADLINE_EXCEEDED (a straggler of the last round), NOT_SELECTED.
   */
  checkUpdateRound(session: ClientSession, roundId: number): void;
}

/** What a protocol's round needs from the engine. */
export interface RoundHost extends ProtocolHost {
  readonly round: ActiveRound;
  /** True while the round is the open one, started, and not closing. */
  isLive(): boolean;
  /** Ends the round (marks it closing and queues the close, which calls `finish`). */
  close(reason: string): void;
  /** Ends the round from a task already on the engine's queue (the deadline). */
  closeNow(reason: string): Promise<void>;
  /** Runs a task on the engine's queue (state changes never interleave). */
  enqueue(task: () => Promise<void> | void): void;
}

/** An update-carrying client message. */
export type UpdateMessage = Frame['message'];

/** One round of a protocol: the engine feeds it messages and events, and asks it for the outcome. */
export interface RoundCollector {
  /** The instruction fields this protocol adds for a client (the SecAggConfig of a secure round). */
  instructionFor(sessionId: string): Pick<MessageInput<'roundInstruction'>, 'secureAggregation'>;
  /** Journaled updates of this round accepted before a coordinator restart (see RoundJournal). */
  replay(entries: Awaited<ReturnType<RoundJournal['read']>>): void;
  /** The round's deadline and instructions are armed (at start, or after a resume). */
  armed(): void;
  /** An update message of this round's protocol from an authenticated, sampled or not, session. */
  handle(session: ClientSession, frame: Frame, message: UpdateMessage): void | Promise<void>;
  /** Something changed (a commit, a drop, a disconnect): end the phase or the round when it is complete. */
  progress(): void;
  /** The round's deadline passed (runs on the engine's queue). */
  deadline(): void | Promise<void>;
  /** The aggregate of what was collected, or null when the round must not change the global state. */
  finish(): Promise<AggregateOutcome | null>;
  /** Stops the round's own timers (it is closing). */
  dispose(): void;
}

export interface UpdateProtocol {
  readonly name: 'plain' | 'secure-aggregation';
  /** The client message kinds this protocol consumes. */
  readonly messageKinds: ReadonlySet<MessageKind>;
  /**
   * Whether clients may train a nested rank below the method's (a masked sum has no per-row client counts,
   * so secure rounds train everyone at full rank).
   */
  readonly nestedRanks: boolean;
  /** Throws a FedpeftError at start when the method cannot be aggregated this way (e.g. FLoRA's stack). */
  checkMethod(method: MethodState): void;
  /** Opens the collection of round `context.round` among `participants` (session ids). */
  open(context: AggregateContext, participants: readonly string[], host: RoundHost): RoundCollector;
  /** A message of this protocol that arrived while no round is open: answer it with the right error. */
  handleOutsideRound(session: ClientSession, frame: Frame, message: UpdateMessage, host: ProtocolHost): void;
}

export type UpdateProtocolFactory = (strategy: Strategy) => UpdateProtocol;
