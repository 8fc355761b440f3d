/**
 * A client's private, persistent state: what lets a restarted client (a crashed process, a reloaded browser
 * tab) carry on as the same federation member instead of joining as a stranger.
 *
 * What is kept, and where:
 *   meta (`ClientStateMeta`)  session id + token, last committed round, the in-flight upload's bookkeeping,
 *                             which global state the client holds
 *   tensor sets               `private` (the method's device-only tensors), `optimizer` (AdamW moments),
 *                             `personal` (the personal adapter), `upload` (the update being sent, so a
 *                             restart resumes the same bytes from the coordinator's acknowledged prefix),
 *                             `global` (the last global state received)
 * Derived tensors (PiCa's U_l, cLA windows) are not stored: they are recomputed from the base and the run
 * seed at attach, and `signature()` lets the coordinator check the recomputation agrees.
 *
 * Nothing here is ever sent: only `adapter.shared()` goes on the wire.
 *
 * Consistency across files: a tensor set is written before the meta that refers to it, and carries a `tag`
 * (the upload's transfer id, the global round) that the meta names, so a crash between the two writes
 * leaves a meta that either ignores the new set or points at a set whose tag does not match (and is then
 * treated as absent). Implementations make each single write atomic.
 */
import type { HostTensorMap } from '../shared/tensor/host-tensor.ts';

export const TENSOR_SETS = ['private', 'optimizer', 'personal', 'upload', 'global'] as const;
export type TensorSetName = (typeof TENSOR_SETS)[number];

export interface SessionRecord {
  /** The coordinator this session belongs to (a state dir reused for another server starts a new session). */
  serverUrl: string;
  runId: string;
  sessionId: string;
  sessionToken: string;
}

/** The update being sent: enough to resend the same bytes and commit after a restart. */
export interface PendingUpload {
  roundId: number;
  transferId: string;
  chunkBytes: number;
  float16: boolean;
  numExamples: number;
  weight: number;
  /** Wire `Metrics` fields of the round (absent = not measured). */
  metrics: {
    trainLoss: number | null;
    steps: number;
    computeMs: number;
    globalValLoss: number | null;
    globalValPpl: number | null;
    personalValLoss: number | null;
    personalValPpl: number | null;
  };
  trainedExtents: Array<{ tensor: string; extent: number[] }>;
  /** HetLoRA's per-tensor norms (`UpdateCommit.aggregation_norms`); absent in stores written before them. */
  norms?: Array<{ tensor: string; norm: number }>;
}

/** The run as the last Welcome described it: lets a restarted client derive its signatures before joining. */
export interface RunRecord {
  runId: string;
  model: string;
  modelConfig: Record<string, unknown>;
  method: string;
  methodConfig: Record<string, unknown>;
  seed: number;
  /** The run's base checkpoint fingerprint (absent: a seeded base). */
  base?: { sha256: string; bytes: number };
}

export interface ClientStateMeta {
  version: 1;
  session: SessionRecord | null;
  run: RunRecord | null;
  /** Last round whose update the coordinator acknowledged with a receipt (0 = none). */
  lastCommittedRound: number;
  upload: PendingUpload | null;
  /** Global states received so far (the `global` set holds the last one; its tag is its transfer id). */
  globalRound: number;
  /** Transfer ids must be unique per session: a counter that survives restarts. */
  transferCounter: number;
}

export function emptyClientState(): ClientStateMeta {
  return {
    version: 1,
    session: null,
    run: null,
    lastCommittedRound: 0,
    upload: null,
    globalRound: 0,
    transferCounter: 0,
  };
}

export interface StoredTensors {
  tensors: HostTensorMap;
  tag: string;
}

export interface StateStore {
  /** Where the state lives, for log lines. */
  readonly location: string;
  readMeta(): Promise<ClientStateMeta | null>;
  writeMeta(meta: ClientStateMeta): Promise<void>;
  readTensors(name: TensorSetName): Promise<StoredTensors | null>;
  writeTensors(name: TensorSetName, tensors: HostTensorMap, tag?: string): Promise<void>;
  deleteTensors(name: TensorSetName): Promise<void>;
}
