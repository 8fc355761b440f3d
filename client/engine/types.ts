/** The client runtime's public option and outcome types (re-exported by client/runtime.ts). */
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { GaussianSource } from '../../shared/privacy/gaussian-source.ts';
import type { BackoffConfigInput } from '../backoff.ts';
import type { Connector } from '../connection.ts';
import type { StateStore } from '../state-store.ts';
import type { ClientRunConfig, ClientTrainer, LocalUpdate } from '../trainer.ts';
import type { LocalDpOption } from '../privacy/update-privacy.ts';

export type ClientLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Structured log lines (the CLI prints them as JSON; tests keep them in memory). */
export interface ClientLogger {
  log(level: ClientLogLevel, event: string, fields?: Record<string, unknown>): void;
}

/**
 * Eligibility traits sent in `Join.capabilities` (the coordinator's participation policy reads them).
 * Nothing here is verified by the coordinator: a deployment decides how much it trusts self-reports.
 */
export interface ClientTraits {
  /** A class the deployment defines ("phone", "laptop", "server", ...). */
  deviceClass?: string;
  /** Battery level in [0, 1]; absent = unknown or mains powered. */
  batteryLevel?: number;
  charging?: boolean;
  unmeteredNetwork?: boolean;
}

/**
 * How long a trainer lives. 'run' (default): built once, kept between rounds. 'round': built from the state
 * store when an instruction arrives and disposed once the update is committed (state persisted first), so a
 * simulator can keep many connected clients without as many models in memory.
 */
export type TrainerLifetime = 'run' | 'round';

export interface ClientRuntimeOptions {
  connector: Connector;
  /** The run's join token. */
  authToken: string;
  clientName: string;
  store: StateStore;
  /** Builds the trainer once the run is known (from the Welcome, the store or `run`). */
  createTrainer: (run: ClientRunConfig) => Promise<ClientTrainer>;
  /** The run, when known before joining (simulator, tests): the first Join then carries signatures. */
  run?: ClientRunConfig;
  logger?: ClientLogger;
  backoff?: BackoffConfigInput;
  /** Consecutive failed connection attempts before giving up. Default: never give up. */
  maxConnectAttempts?: number;
  /**
   * Give up (`COORDINATOR_UNREACHABLE`) once every connection attempt has failed for this long since the last
   * successful connection (or the start). Default: never give up.
   */
  giveUpAfterMs?: number;
  /** Upload shared tensors as float16 (half the bytes, ~3 significant digits). Default false. */
  float16Uploads?: boolean;
  /** Upload progress after every ack (contiguous chunks acknowledged, total). */
  onUploadProgress?: (acknowledged: number, total: number, transferId: string) => void;
  /** Called after each committed round: what was uploaded (exactly the bytes sent) and its weight. */
  onRoundCommitted?: (roundId: number, committed: CommittedUpdate) => void;
  /** Seeds reconnect jitter (default: derived from the client name). */
  seed?: number;
  /**
   * Largest adapter rank this device trains (`Capabilities.max_rank`; 0/undefined = no limit). For methods
   * with heterogeneous ranks the coordinator answers with a `client_rank` <= it.
   */
  maxRank?: number;
  /** Eligibility traits for `Join.capabilities`. */
  traits?: ClientTraits;
  /** This client's own local DP (clip + noise every update it sends), on top of what the coordinator asks. */
  localDp?: LocalDpOption;
  /** Noise for client-side DP (default: the platform CSPRNG; seeded sources are for simulations only). */
  noiseSource?: GaussianSource;
}

export interface CommittedUpdate {
  transferId: string;
  shared: HostTensorMap;
  weight: number;
  /** The trainer's result (null when the update was restored from the store after a restart). */
  update: LocalUpdate | null;
  /** HetLoRA's per-tensor norms sent in the commit (absent for other rules). */
  norms?: ReadonlyMap<string, number>;
  /**
   * Secure aggregation: the (clipped/noised) delta that was masked; `shared` is then start + delta, which
   * never left the device in the clear.
   */
  secureDelta?: HostTensorMap;
}

export interface ClientRunOutcome {
  /** Rounds this client committed during this process's lifetime. */
  committedRounds: number[];
  lastCommittedRound: number;
  /** The last global state downloaded (the run's final model when the run completed). */
  finalGlobal: HostTensorMap | null;
  runComplete: boolean;
}
