/**
 * What the client does about each protocol `Error` code. One table, so every code is handled on purpose and a
 * person reading the logs sees why the client retried, skipped a round or stopped.
 *
 * - `fatal`:      retrying cannot help (wrong token, wrong base model, unsupported method/version): stop.
 * - `rejoin`:     the session is gone: forget it and join as a new session.
 * - `skip-round`: this round's update will never count (straggler, not sampled, stale): drop it, wait for the
 *                 next instruction.
 * - `resend`:     the upload is incomplete or was corrupted: send it (again) and commit again.
 * - `retry`:      a transient condition on the coordinator: wait (retry_after_ms or backoff), then repeat.
 * - `drop-update`:the coordinator refused this update's content (shape, NaN, norm): it would be refused
 *                 again, so drop it and train the next round.
 */
export type ErrorAction = 'fatal' | 'rejoin' | 'skip-round' | 'resend' | 'retry' | 'drop-update';

const ACTIONS: Readonly<Record<string, ErrorAction>> = {
  UNSUPPORTED_VERSION: 'fatal',
  UNAUTHENTICATED: 'fatal',
  CAPABILITY_MISMATCH: 'fatal',
  SIGNATURE_MISMATCH: 'fatal',
  UNKNOWN_SESSION: 'rejoin',
  STALE_ROUND: 'skip-round',
  DEADLINE_EXCEEDED: 'skip-round',
  NOT_SELECTED: 'skip-round',
  TRANSFER_UNKNOWN: 'resend',
  TRANSFER_INCOMPLETE: 'resend',
  TRANSFER_CHECKSUM: 'resend',
  CHUNK_CHECKSUM: 'resend',
  CHUNK_DUPLICATE: 'resend',
  CHUNK_OUT_OF_RANGE: 'resend',
  FUTURE_ROUND: 'retry',
  RATE_LIMITED: 'retry',
  SHUTTING_DOWN: 'retry',
  INTERNAL: 'retry',
  STORAGE_UNAVAILABLE: 'retry',
  REQUEST_TIMEOUT: 'retry',
  CONNECTION_CLOSED: 'retry',
  MALFORMED_MESSAGE: 'drop-update',
  INVALID_TENSOR: 'drop-update',
  SHAPE_MISMATCH: 'drop-update',
  NON_FINITE: 'drop-update',
  NORM_BOUND_EXCEEDED: 'drop-update',
  TRANSFER_TOO_LARGE: 'drop-update',
  UNEXPECTED_MESSAGE: 'drop-update',
  DUPLICATE_CLIENT: 'drop-update',
  SECAGG_ABORTED: 'skip-round',
  ALREADY_COUNTED: 'skip-round',
  AGGREGATE_REJECTED: 'skip-round',
  FRAME_TOO_LARGE: 'drop-update',
};

/** The action for an error code (unknown codes are treated as transient). */
export function errorAction(code: string): ErrorAction {
  return ACTIONS[code] ?? 'retry';
}

/** Why a fatal code is fatal, in words a person can act on. */
export function fatalAdvice(code: string): string {
  switch (code) {
    case 'UNAUTHENTICATED':
      return 'check --token (the coordinator does not accept it, or it was revoked)';
    case 'SIGNATURE_MISMATCH':
      return "this client's base model or run seed differs from the other clients'; use the run's base checkpoint";
    case 'CAPABILITY_MISMATCH':
      return 'this client cannot run the method or rank the run uses';
    case 'UNSUPPORTED_VERSION':
      return 'the coordinator speaks another protocol version; upgrade fedpeft on one side';
    default:
      return 'see the message above';
  }
}
