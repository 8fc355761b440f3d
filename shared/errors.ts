/**
 * Errors a person can act on (bad flags, missing backends, invalid configs, unreadable files). The CLI prints
 * them as one line without a stack trace; anything else is treated as a bug.
 */
export class FedpeftError extends Error {
  /** A stable machine-readable code, e.g. `BACKEND_UNAVAILABLE`, `INVALID_CONFIG`. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'FedpeftError';
    this.code = code;
  }
}

export function isFedpeftError(err: unknown): err is FedpeftError {
  return err instanceof FedpeftError;
}
