/**
 * Whether a session may open an upload, decided when its manifest is announced and before a byte is
 * allocated: a round must be open and the session sampled for it (and not yet committed or dropped); the
 * manifest must hold exactly the round's expected tensors (names, shapes, float dtypes: plain updates; a
 * secure round's masked vector is checked at its commit); and the session's and its join token's announced,
 * uncommitted bytes must stay within `limits.maxSessionTransferBytes` / `limits.maxTokenTransferBytes`.
 */
import { FedpeftError } from '../../shared/errors.ts';
import type { TransferManifest } from '../../shared/wire/messages.ts';
import type { ClientSession } from '../client-session.ts';
import type { CoordinatorConfig } from '../config.ts';
import type { MethodState } from '../method-state.ts';
import type { ActiveRound, ClosedRound } from '../engine/round-state.ts';
import { checkUpdateManifest } from '../engine/update-intake.ts';

export interface UploadAdmissionParts {
  config: CoordinatorConfig;
  method: MethodState;
  /** Whether updates are plain tensors of the method's shapes (false: secure aggregation's masked vectors). */
  plainUpdates: boolean;
  activeRound(): ActiveRound | undefined;
  lastClosed(): ClosedRound | undefined;
  sessions(): Iterable<ClientSession>;
}

export function sessionTransferBytes(config: CoordinatorConfig): number {
  return config.limits.maxSessionTransferBytes ?? 2 * config.transport.maxTransferBytes;
}

export function tokenTransferBytes(config: CoordinatorConfig): number {
  return config.limits.maxTokenTransferBytes ?? 8 * config.transport.maxTransferBytes;
}

export class UploadAdmission {
  constructor(private readonly p: UploadAdmissionParts) {}

  /** Throws the protocol error refusing `manifest` from `session`. */
  admit(session: ClientSession, manifest: TransferManifest): void {
    const r = this.p.activeRound();
    if (!r) {
      const last = this.p.lastClosed();
      if (last?.committed.has(session.id)) {
        throw new FedpeftError(
          'ALREADY_COUNTED',
          `round ${last.id} is closed and counted this client's update`,
        );
      }
      if (last?.sampled.has(session.id)) {
        throw new FedpeftError(
          'DEADLINE_EXCEEDED',
          `round ${last.id} closed before this upload; the straggler was dropped from it — train the next round`,
        );
      }
      throw new FedpeftError('UNEXPECTED_MESSAGE', 'no round is open; upload after a RoundInstruction');
    }
    if (!r.sampled.has(session.id)) {
      throw new FedpeftError(
        'NOT_SELECTED',
        `this client was not sampled for round ${r.id}; nothing to upload`,
      );
    }
    if (r.committed.has(session.id)) {
      throw new FedpeftError(
        'UNEXPECTED_MESSAGE',
        `this client already committed its update for round ${r.id}`,
      );
    }
    if (r.dropped.has(session.id)) {
      throw new FedpeftError(
        'DEADLINE_EXCEEDED',
        `this client was dropped from round ${r.id}; train the next round`,
      );
    }
    if (this.p.plainUpdates) checkUpdateManifest({ manifest }, this.p.method);
    const sessionMax = sessionTransferBytes(this.p.config);
    if (session.inbox.openBytes + manifest.totalBytes > sessionMax) {
      throw new FedpeftError(
        'TRANSFER_TOO_LARGE',
        `this session's uncommitted uploads would reach ${session.inbox.openBytes + manifest.totalBytes} bytes; ` +
          `at most ${sessionMax} (limits.maxSessionTransferBytes); commit or cancel one first`,
      );
    }
    let tokenBytes = manifest.totalBytes;
    for (const s of this.p.sessions()) {
      if (s.record.joinTokenDigest === session.record.joinTokenDigest) tokenBytes += s.inbox.openBytes;
    }
    const tokenMax = tokenTransferBytes(this.p.config);
    if (tokenBytes > tokenMax) {
      throw new FedpeftError(
        'TRANSFER_TOO_LARGE',
        `the uncommitted uploads of this join token's sessions would reach ${tokenBytes} bytes; at most ` +
          `${tokenMax} (limits.maxTokenTransferBytes)`,
      );
    }
  }
}
