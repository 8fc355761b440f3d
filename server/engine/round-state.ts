/** The state of one round while it is open, and what is remembered of the round that closed last. */
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { ClientNoiseRequest } from '../strategies/strategy.ts';
import type { RoundCollector } from '../update-protocols/update-protocol.ts';

export interface CommittedUpdate {
  transferId: string;
  weight: number;
  trainLoss: number | null;
  globalValLoss: number | null;
  personalValLoss: number | null;
}

/** What the strategy asked for one sampled client (typed instruction fields and free-form extras). */
export interface ClientRoundSettings {
  /** FedProx proximal coefficient (RoundInstruction.proximal_mu); absent = 0. */
  proximalMu?: number;
  /** Client-side DP request (RoundInstruction.client_noise). */
  clientNoise?: ClientNoiseRequest;
  /** Wrapper extras and anything else a strategy adds. */
  extra?: Record<string, number | string | boolean>;
}

export interface ActiveRound {
  id: number;
  startedAt: number;
  /** Absolute deadline (coordinator clock); instructions carry the time left, since device clocks differ. */
  deadlineAt: number;
  linkIndex: number;
  /** Folds every client's base holds while training this round (RoundInstruction.fold_count). */
  foldCount: number;
  /** What this round's updates are relative to: the global, or the new link's reset state (chained methods). */
  reference: HostTensorMap;
  sampled: ReadonlySet<string>;
  committed: Map<string, CommittedUpdate>;
  dropped: Set<string>;
  /** Per-client settings from the strategy, by session id. */
  settings: ReadonlyMap<string, ClientRoundSettings>;
  /** How this round's updates are collected and summed (the update-protocol plug-in's per-round part). */
  collector: RoundCollector;
  /** Evaluation reports (`metrics` frames) of this round, by session. */
  reports: Map<
    string,
    { globalValLoss: number | null; personalValLoss: number | null; trainLoss?: number | null }
  >;
  /** Per-client nested rank sent in `client_rank` (0 = the method's rank). */
  clientRanks: Map<string, number>;
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
