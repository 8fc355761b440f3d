/**
 * How a trained update reaches the coordinator. The round code hands every update to one `UpdateProtocol`,
 * chosen by what the instruction carries: plain upload + commit (plain.ts, in client/runtime.ts for now), or
 * secure aggregation's masked input (secure-aggregation.ts). The round code has no other branch on it.
 */
import type { ClientPhase, MessageBody, WireLimits } from '../../shared/wire/messages.ts';
import type { Peer } from '../../shared/wire/peer.ts';
import type { LocalUpdate } from '../trainer.ts';
import type { PrivatizedUpdate } from '../privacy/update-privacy.ts';
import type { ClientLogger, ClientRuntimeOptions } from '../engine/types.ts';

export type Instruction = MessageBody<'roundInstruction'>;

/** What a protocol needs from the client engine. */
export interface UpdateProtocolHost {
  readonly logger: ClientLogger;
  readonly options: ClientRuntimeOptions;
  /** The joined connection, waiting for the next one while disconnected. */
  joinedPeer(): Promise<Peer>;
  limits(): WireLimits | undefined;
  setPhase(phase: ClientPhase): void;
  setProgress(fraction: number): void;
  nextTransferId(prefix: string, roundId: number): string;
  /** The round is committed: record it (meta, committed list) and persist the meta. */
  markCommitted(roundId: number): Promise<void>;
}

export interface UpdateProtocol {
  /**
   * The instruction arrived (before training). Returns false when this round is already under way here
   * (an instruction re-sent after a reconnect).
   */
  begin(ins: Instruction, peer: Peer): boolean;
  /** Whether the update must be taken as a delta from the round's start even without DP noise (masking). */
  readonly needsDelta: boolean;
  /**
   * Hands the update over. `persistState` writes the trainer's private state (plus `alsoWrite`, in the same
   * store step) and must run before anything leaves the device.
   */
  submit(
    ins: Instruction,
    update: LocalUpdate,
    priv: PrivatizedUpdate | null,
    persistState: (alsoWrite?: () => Promise<void>) => Promise<void>,
  ): Promise<void>;
}
