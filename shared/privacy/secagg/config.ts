/**
 * The parameters both sides of one secure aggregation agree on before it starts (the coordinator sends them
 * with the round instruction).
 */
import { z } from 'zod';

const tensorSlotSchema = z.object({
  name: z.string().min(1, 'a tensor name must not be empty'),
  shape: z.array(z.int().min(1, 'tensor dimensions must be >= 1')),
});

export const secAggConfigSchema = z.object({
  /** Unique per aggregation (e.g. `run-7/round-12`): binds every key, share and message to this round. */
  sessionId: z
    .string()
    .min(1, 'sessionId must not be empty')
    .max(200, 'sessionId must be at most 200 characters'),
  /**
   * t: shares needed to reconstruct a secret, and the fewest clients that must survive each phase. Must be
   * > half of the clients that advertise keys (so no two disjoint halves could each unmask) and >= 2. The
   * sum survives up to (clients - t) dropouts.
   */
  threshold: z.int().min(2, 'threshold must be at least 2').max(255, 'threshold must be at most 255'),
  /** The shared tensors, in the order they are concatenated into the masked vector. */
  layout: z.array(tensorSlotSchema).min(1, 'the layout needs at least one tensor'),
  /** R: each weighted value (and the weight itself) is clipped to [-R, R] before fixed-point encoding. */
  clipRange: z.number().positive('clipRange must be > 0').finite().default(8),
  /** f: fixed-point scale 2^f; quantization error per client and value is at most 2^-(f+1). */
  fractionalBits: z.int().min(0).max(48).default(16),
});

export type SecAggConfigInput = z.input<typeof secAggConfigSchema>;
export type SecAggConfig = z.output<typeof secAggConfigSchema>;

/**
 * At most 255 clients per aggregation: the audited Shamir implementation works over GF(2^8) (255 share
 * coordinates). Larger cohorts are split into groups whose sums the coordinator adds (as production systems
 * do anyway to bound the O(n²) key agreements).
 */
export const MAX_SECAGG_CLIENTS = 255;

export function parseSecAggConfig(input: SecAggConfigInput): SecAggConfig {
  return secAggConfigSchema.parse(input);
}
