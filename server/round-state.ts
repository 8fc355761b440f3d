/** The state of one round while it is open, and what is remembered of the round that closed last. */
import type { HostTensorMap } from '../shared/tensor/host-tensor.ts';
import type { RoundAggregation } from './strategies/strategy.ts';
import type { SecureRound } from './privacy/secure-aggregation.ts';

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
  /** What this round's updates are relative to: the global, or the new link's reset state (chained methods). */
  reference: HostTensorMap;
  sampled: ReadonlySet<string>;
  committed: Map<string, CommittedUpdate>;
  dropped: Set<string>;
  /** Per-client settings from the strategy (FedProx mu, wrapper extras), merged into hyperparams_json. */
  extras: ReadonlyMap<string, Record<string, unknown>>;
  aggregation: RoundAggregation;
  /** Evaluation reports (`metrics` frames) of this round, by session. */
  reports: Map<
    string,
    { globalValLoss: number | null; personalValLoss: number | null; trainLoss?: number | null }
  >;
  /** Per-client nested rank sent in `client_rank` (0 = the method's rank). */
  clientRanks: Map<string, number>;
  /** Present when the round is securely aggregated: the driver of its four phases. */
  secure?: SecureRoundState;
  bytesAtStart: { up: number; down: number };
  timer: ReturnType<typeof setTimeout> | undefined;
  dropTimers: Map<string, ReturnType<typeof setTimeout>>;
  closing: boolean;
}

export interface SecureRoundState {
  round: SecureRound;
  /** Closes the current phase when it runs out (phases other than masked input; that one ends at the deadline). */
  phaseTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set once the round failed (too few clients): nothing more is accepted. */
  aborted: boolean;
}

export interface ClosedRound {
  id: number;
  sampled: ReadonlySet<string>;
  committed: ReadonlySet<string>;
}
