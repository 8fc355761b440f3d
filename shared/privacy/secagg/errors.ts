/**
 * Stable codes for everything secure aggregation rejects. The coordinator wrapper maps them to a reply to the
 * offending client and a log line; none of them may crash a round that can still finish.
 */
import { FedpeftError } from '../../errors.ts';

export type SecAggErrorCode =
  /** A message arrived in the wrong phase (e.g. a masked input after the unmasking started). */
  | 'SECAGG_WRONG_PHASE'
  /** A message belongs to another session (round) than this one. */
  | 'SECAGG_WRONG_SESSION'
  /** A client id that is not part of the current phase's set, or a malformed id. */
  | 'SECAGG_UNKNOWN_CLIENT'
  /** The same client (or the same public key) twice. */
  | 'SECAGG_DUPLICATE_CLIENT'
  /** A public key of the wrong length or a low-order (all-zero shared secret) point. */
  | 'SECAGG_MALFORMED_KEY'
  /** Share ciphertexts or revealed shares missing, extra, duplicated or of the wrong length. */
  | 'SECAGG_MALFORMED_SHARES'
  /** A share ciphertext failed authentication: tampered, or encrypted for someone else. */
  | 'SECAGG_BAD_CIPHERTEXT'
  /** A masked input of the wrong length or with values outside the ring. */
  | 'SECAGG_MALFORMED_INPUT'
  /** Fewer than t clients left in some phase: the sum cannot be recovered (or would be insecure). */
  | 'SECAGG_TOO_FEW_CLIENTS'
  /** Reconstructed secrets do not match their public key / commitment: corrupted shares. */
  | 'SECAGG_RECONSTRUCTION_FAILED'
  /** Parameters that cannot work (threshold vs. clients, fixed-point range that would wrap). */
  | 'SECAGG_INVALID_CONFIG'
  /** The client's own input cannot be encoded (e.g. a weight outside [0, clipRange], NaN values). */
  | 'SECAGG_INVALID_INPUT';

export function secAggError(code: SecAggErrorCode, message: string): FedpeftError {
  return new FedpeftError(code, `secure aggregation: ${message}`);
}
