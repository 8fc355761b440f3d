/**
 * Restore and persist orchestration: after every round the checkpoint (server/checkpoint-store.ts: global,
 * strategy state, sessions, signature reference) is written atomically; on `--resume` the last checkpoint,
 * the sessions admitted after it (sessions.json), the fold history and the open round (its sample and the
 * journaled updates, server/round-journal.ts) come back.
 */
import type { LinkSchedule } from '../../shared/adapters/link-schedule.ts';
import { FedpeftError } from '../../shared/errors.ts';
import type { CheckpointStore } from '../checkpoint-store.ts';
import type { CoordinatorConfig } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { MethodState } from '../method-state.ts';
import type { RoundJournal } from '../round-journal.ts';
import type { Strategy } from '../strategies/strategy.ts';
import type { RunState } from './engine-state.ts';
import type { FoldHistory } from './fold-history.ts';
import type { RoundLifecycle } from './round-lifecycle.ts';
import type { ClientRoundSettings } from './round-state.ts';
import type { SessionRegistry } from './sessions.ts';
import type { Transfers } from './transfers.ts';

export interface CheckpointingParts {
  runId: string;
  config: CoordinatorConfig;
  method: MethodState;
  logger: Logger;
  state: RunState;
  strategy: Strategy;
  schedule: LinkSchedule | null;
  checkpoints: CheckpointStore;
  journal: RoundJournal | null;
  sessions: SessionRegistry;
  transfers: Transfers;
  folds: FoldHistory;
}

export class Checkpointing {
  constructor(private readonly p: CheckpointingParts) {}

  /** The checkpoint of the round just completed (the round's fold, if any, is already on disk). */
  async save(): Promise<void> {
    const { p } = this;
    const reference = p.sessions.signatures.reference;
    await p.checkpoints.save(
      {
        runId: p.runId,
        round: p.state.completed,
        seed: p.config.run.seed,
        method: p.method.method,
        model: p.method.model,
        linkSchedule: p.schedule ? { roundsPerLink: p.schedule.roundsPerLink } : null,
        sessions: p.sessions.records(),
        signatureReference: reference ? Array.from(reference) : null,
        rng: { seed: p.config.run.seed },
      },
      p.state.global,
      p.strategy.exportState(),
    );
  }

  async restore(lifecycle: RoundLifecycle): Promise<void> {
    const { p } = this;
    const { state } = p;
    const checkpoint = await p.checkpoints.loadLatest();
    if (checkpoint) {
      const cs = checkpoint.state;
      if (cs.method !== p.method.method || cs.model !== p.method.model) {
        throw new FedpeftError(
          'CHECKPOINT_MISMATCH',
          `the checkpoint is of method '${cs.method}' on '${cs.model}'; this config runs '${p.method.method}' on '${p.method.model}'`,
        );
      }
      state.completed = cs.round;
      state.global = checkpoint.global;
      state.globalLink = p.schedule ? p.schedule.linkAt(Math.max(0, cs.round - 1)) : 0;
      p.strategy.importState(checkpoint.strategyState);
      if (cs.signatureReference && !p.sessions.signatures.reference) {
        p.sessions.signatures.reference = Float32Array.from(cs.signatureReference);
      }
    }
    await p.sessions.restore(checkpoint?.state.sessions ?? []);
    await p.folds.restore(state.completed);
    p.transfers.publishGlobal(state.completed, state.global);
    const round = state.completed + 1;
    if (p.journal && round <= p.config.run.rounds) {
      const replay = await p.journal.read(round);
      const sampled = await p.journal.readSample<ClientRoundSettings>(round);
      if (sampled) await lifecycle.openRound(round, new Map(Object.entries(sampled)), replay);
      for (const entry of replay) {
        const s = p.sessions.get(entry.sessionId);
        if (s) s.record.lastCommittedRound = Math.max(s.record.lastCommittedRound, round);
      }
    }
    p.logger.log('info', 'run-resumed', {
      runId: p.runId,
      completedRounds: state.completed,
      sessions: p.sessions.sessions.size,
      folds: p.folds.count,
      openRound: state.active?.id ?? null,
      replayedUpdates: state.active?.committed.size ?? 0,
    });
  }
}
