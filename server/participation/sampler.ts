/**
 * Picks the clients of a round among the connected, eligible ones: every one of them, or a seeded random
 * `fraction` but never fewer than `minClients` (and at most `maxClients`). Candidates are identified by their
 * STABLE client id (`Join.client_name`, see `stable-client-id.ts`), put in a canonical order (named clients
 * by id, then session-derived ids), and drawn with an RNG forked from (run seed, round id) — so the same
 * eligible set gives the same participants whatever the session ids, the connection order or the earlier
 * rounds, and a coordinator restarted from a checkpoint samples exactly as before.
 */
import { z } from 'zod';
import { strictObject } from '../../shared/config/strict-object.ts';
import { FedpeftError } from '../../shared/errors.ts';
import { Rng } from '../../shared/tensor/rng.ts';
import type { ClientDescriptor } from '../strategies/strategy.ts';
import { compareStableIds } from './stable-client-id.ts';

export const samplingSchema = strictObject({
  /** Fraction of the eligible clients sampled each round (Flower's `fraction_fit`). Default 1: everyone. */
  fraction: z
    .number()
    .gt(0, 'sampling.fraction must be > 0 (the share of eligible clients to train each round)')
    .max(1, 'sampling.fraction must be <= 1')
    .default(1),
  /** Never sample fewer; a round with fewer eligible clients cannot start. Default 1. */
  minClients: z.int().min(1, 'sampling.minClients must be at least 1').default(1),
  /** Cap per round (memory/bandwidth of the coordinator); default: no cap. */
  maxClients: z.int().min(1, 'sampling.maxClients must be at least 1').optional(),
})
  .refine((s) => s.maxClients === undefined || s.maxClients >= s.minClients, {
    message: 'sampling.maxClients must be >= sampling.minClients',
  })
  .prefault({});

export type SamplingConfig = z.output<typeof samplingSchema>;

export type EligibilityPredicate = (client: ClientDescriptor) => boolean;

export const defaultEligibility: EligibilityPredicate = (c) => c.eligible !== false;

export class ClientSampler {
  constructor(
    readonly config: SamplingConfig,
    private readonly seed: number,
    private readonly eligibility: EligibilityPredicate = defaultEligibility,
  ) {}

  /** How many clients a round samples when `eligibleCount` are eligible. */
  sampleSize(eligibleCount: number): number {
    const wanted = Math.max(this.config.minClients, Math.ceil(this.config.fraction * eligibleCount - 1e-9));
    return Math.min(eligibleCount, wanted, this.config.maxClients ?? Infinity);
  }

  /**
   * The sampled client ids in canonical order. Throws `STRATEGY_NOT_ENOUGH_CLIENTS` below `minClients`
   * eligible clients, `STRATEGY_DUPLICATE_CLIENT` when an id is listed twice.
   */
  sample(clients: readonly ClientDescriptor[], round: number): string[] {
    const ids = new Set<string>();
    for (const c of clients) {
      if (ids.has(c.id))
        throw new FedpeftError('STRATEGY_DUPLICATE_CLIENT', `client "${c.id}" is listed twice`);
      if (this.eligibility(c)) ids.add(c.id);
    }
    const eligible = [...ids].sort(compareStableIds);
    if (eligible.length < this.config.minClients) {
      throw new FedpeftError(
        'STRATEGY_NOT_ENOUGH_CLIENTS',
        `round ${round}: ${eligible.length} eligible client(s) of ${clients.length} connected, ` +
          `sampling.minClients is ${this.config.minClients}; wait for more clients or lower minClients`,
      );
    }
    const k = this.sampleSize(eligible.length);
    const rng = new Rng(this.seed).fork(`sampling/round-${round}`);
    // Partial Fisher–Yates: the first k positions are a uniform k-subset.
    for (let i = 0; i < k; i++) {
      const j = i + rng.int(eligible.length - i);
      const tmp = eligible[i] as string;
      eligible[i] = eligible[j] as string;
      eligible[j] = tmp;
    }
    return eligible.slice(0, k).sort(compareStableIds);
  }
}
