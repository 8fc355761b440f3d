/**
 * A token bucket: `ratePerSecond` tokens refill continuously up to `capacity`; `take(n)` spends n tokens if
 * they are there. Used for per-connection frame and byte rate limits (shared/wire/inbound-guard.ts) and for
 * rate-limited log lines (server/limits/rate-limited-logger.ts).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly capacity: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = capacity;
    this.last = now();
  }

  take(n = 1): boolean {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}
