/**
 * Whether the coordinator can currently write its durable state, and the one place storage failures are
 * reported: the first failure of an episode is logged with its real cause (operation, path, ENOSPC/EROFS/...),
 * repeats of the same cause are counted, not logged again, and the first success afterwards logs the
 * recovery. `/status` and the dashboard show `snapshot()`.
 *
 * `retryStorage` is for writes nothing waits on a client for (a checkpoint, a round's sample): it retries
 * with capped exponential backoff until the disk takes the write again, so a full disk delays the run
 * instead of hanging or killing it. Updates are never retried here: they are refused with
 * STORAGE_UNAVAILABLE and the client retries (server/round-journal.ts).
 */
import { FedpeftError } from '../../shared/errors.ts';
import type { Logger } from '../logger.ts';
import { isStorageError, type StorageError } from './durable-fs.ts';

export interface StorageStatus {
  ok: boolean;
  /** The current failure: what failed, the OS code, since when, how many writes failed since. */
  failure: {
    operation: string;
    path: string;
    osCode: string;
    message: string;
    since: string;
    failures: number;
  } | null;
}

export class StorageHealth {
  private failure: StorageStatus['failure'] = null;
  constructor(private readonly logger: Logger) {}

  /** Records a failed durable write; logs it when it starts an episode or its cause changed. */
  failed(err: StorageError, context: Record<string, unknown> = {}): void {
    if (this.failure && this.failure.osCode === err.osCode) {
      this.failure.failures++;
      return;
    }
    this.failure = {
      operation: err.operation,
      path: err.path,
      osCode: err.osCode,
      message: err.message,
      since: new Date().toISOString(),
      failures: 1,
    };
    this.logger.log('error', 'storage-failed', { ...context, osCode: err.osCode, message: err.message });
  }

  /** Records a successful durable write (ends a failure episode). */
  succeeded(): void {
    if (!this.failure) return;
    this.logger.log('info', 'storage-recovered', {
      osCode: this.failure.osCode,
      failedWrites: this.failure.failures,
      since: this.failure.since,
    });
    this.failure = null;
  }

  get ok(): boolean {
    return this.failure === null;
  }

  snapshot(): StorageStatus {
    return { ok: this.failure === null, failure: this.failure ? { ...this.failure } : null };
  }
}

export interface RetryOptions {
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Checked before each retry: a stopping coordinator stops retrying (throws SHUTTING_DOWN). */
  stopped?: () => boolean;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `write` until it succeeds, waiting with backoff after each StorageError; other errors propagate. */
export async function retryStorage<T>(
  health: StorageHealth,
  what: string,
  write: () => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const sleep = options.sleep ?? defaultSleep;
  let delay = options.initialDelayMs ?? 250;
  const max = options.maxDelayMs ?? 10_000;
  for (;;) {
    try {
      const out = await write();
      health.succeeded();
      return out;
    } catch (err) {
      if (!isStorageError(err)) throw err;
      health.failed(err, { writing: what, retryInMs: delay });
      if (options.stopped?.())
        throw new FedpeftError('SHUTTING_DOWN', `stopped while retrying to write ${what}`);
      await sleep(delay);
      if (options.stopped?.())
        throw new FedpeftError('SHUTTING_DOWN', `stopped while retrying to write ${what}`);
      delay = Math.min(max, delay * 2);
    }
  }
}
