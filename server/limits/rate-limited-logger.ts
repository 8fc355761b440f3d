/**
 * Per-client log lines, rate-limited: a client that sends a thousand bad frames must not write a thousand
 * lines. Each (event, client) key has a token bucket (a burst, then `perSecond`); lines over it are counted
 * and the next line that passes carries `suppressed: <count>`. Lines of the run itself (rounds, joins) go
 * through `logger` unchanged; only callers that log on behalf of a client use `client(...)`.
 */
import { TokenBucket } from '../../shared/wire/token-bucket.ts';
import type { Logger, LogLevel } from '../logger.ts';

const BURST = 20;
/** Keys remembered at once; beyond it the oldest are forgotten (their next line passes). */
const MAX_KEYS = 4096;

export class RateLimitedLogger {
  private readonly buckets = new Map<string, { bucket: TokenBucket; suppressed: number }>();

  constructor(
    readonly logger: Logger,
    private readonly perSecond: number,
  ) {}

  /** Logs `event` for the client identified by `clientKey` (session id or peer label), within its budget. */
  client(level: LogLevel, event: string, clientKey: string, fields: Record<string, unknown> = {}): void {
    const key = `${event}\u0000${clientKey}`;
    let entry = this.buckets.get(key);
    if (!entry) {
      if (this.buckets.size >= MAX_KEYS) this.buckets.delete(this.buckets.keys().next().value!);
      entry = { bucket: new TokenBucket(this.perSecond, BURST), suppressed: 0 };
      this.buckets.set(key, entry);
    }
    if (!entry.bucket.take(1)) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry.suppressed;
    entry.suppressed = 0;
    this.logger.log(level, event, suppressed > 0 ? { ...fields, suppressed } : fields);
  }
}
