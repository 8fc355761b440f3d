/** The state of one round while it is open, and what is remembered of the round that closed last. */
import type { RoundAggregation } from './strategies/strategy.ts';

export interface CommittedUpdate {
  transferId: string;
  weight: number;
  trainLoss: number | null;
  globalValLoss: number | null;
  personalValLoss: number | null;
}

export interface ActiveRound {
  id: number;
  startedAt: number;
  /** Absolute deadline (coordinator clock); instructions carry the time left, since device clocks differ. */
  deadlineAt: number;
  linkIndex: number;
  sampled: ReadonlySet<string>;
  committed: Map<string, CommittedUpdate>;
  dropped: Set<string>;
  /** Per-client settings from the strategy (FedProx mu, wrapper extras), merged into hyperparams_json. */
  extras: ReadonlyMap<string, Record<string, unknown>>;
  aggregation: RoundAggregation;
  /** Evaluation reports (`metrics` frames) of this round, by session. */
  reports: Map<string, { globalValLoss: number | null; personalValLoss: number | null }>;
  bytesAtStart: { up: number; down: number };
  timer: ReturnType<typeof setTimeout> | undefined;
  dropTimers: Map<string, ReturnType<typeof setTimeout>>;
  closing: boolean;
}

export interface ClosedRound {
  id: number;
  sampled: ReadonlySet<string>;
  committed: ReadonlySet<string>;
}
