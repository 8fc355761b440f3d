/**
 * Reconnect delays: exponential with a cap and seeded jitter. Jitter matters for a fleet: after a coordinator
 * restart thousands of clients would otherwise reconnect in the same millisecond. It comes from the seeded
 * `Rng` (never Math.random), so a simulated fleet reconnects identically in every run.
 */
import { z } from 'zod';
import type { Rng } from '../shared/tensor/rng.ts';

export const BackoffConfigSchema = z.object({
  /** First delay (ms). Default 250. */
  initialMs: z.number().positive().default(250),
  /** Largest delay (ms). Default 30 s. */
  maxMs: z.number().positive().default(30_000),
  /** Growth per failed attempt. Default 2. */
  factor: z.number().min(1).default(2),
  /** Each delay is scaled by a uniform factor in [1 - jitter, 1 + jitter]. Default 0.2. */
  jitter: z.number().min(0).max(1).default(0.2),
});
export type BackoffConfigInput = z.input<typeof BackoffConfigSchema>;

export class Backoff {
  private readonly config: z.output<typeof BackoffConfigSchema>;
  private attempt = 0;

  constructor(
    config: BackoffConfigInput,
    private readonly rng: Rng,
  ) {
    this.config = BackoffConfigSchema.parse(config);
  }

  /** Failed attempts since the last `reset`. */
  get attempts(): number {
    return this.attempt;
  }

  /** The delay before the next attempt; `atLeast` honours a peer's `retry_after_ms`. */
  next(atLeast = 0): number {
    const { initialMs, maxMs, factor, jitter } = this.config;
    const base = Math.min(maxMs, initialMs * factor ** this.attempt);
    this.attempt++;
    const scaled = base * (1 - jitter + 2 * jitter * this.rng.next());
    return Math.max(atLeast, Math.round(scaled));
  }

  reset(): void {
    this.attempt = 0;
  }
}
