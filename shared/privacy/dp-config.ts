/**
 * The user-facing configuration of client-level differential privacy for a run. The DP wrapper strategy (on
 * the coordinator) and the client middleware read it; the mechanisms themselves are in dp.ts,
 * adaptive-clipping.ts and rdp-accountant.ts.
 */
import { z } from 'zod';
import { strictObject } from '../config/strict-object.ts';

export const dpConfigSchema = strictObject({
  /**
   * Where the noise is added: `central` (coordinator noises the sum; it must be trusted with the sum),
   * `distributed` (each client adds its share before secure aggregation), `local` (each client noises its
   * own update fully; strongest trust model, n times the noise variance).
   */
  placement: z.enum(['central', 'distributed', 'local']).default('central'),
  /** z: noise std on the sum divided by the clip norm. */
  noiseMultiplier: z
    .number()
    .positive('noiseMultiplier must be > 0 (noise std / clip norm, e.g. 1.0)')
    .finite(),
  /** C: every client update is clipped to this L2 norm (the whole update as one vector). */
  clipNorm: z.number().positive('clipNorm must be > 0').finite(),
  /** Track a quantile of update norms instead of a fixed C (Andrew et al. 2021). */
  adaptiveClipping: strictObject({
    /** γ: the quantile to track. Default 0.5 (median). */
    targetQuantile: z.number().gt(0).lt(1, 'targetQuantile must be in (0, 1)').default(0.5),
    /** η: geometric learning rate. Default 0.2. */
    learningRate: z.number().positive().default(0.2),
    /** σ_b: noise std on the unclipped count. Default: expected clients per round / 20. */
    countNoiseStd: z.number().nonnegative().optional(),
  }).optional(),
  /** Stop the run before ε would exceed this (at the given δ). */
  budget: strictObject({
    epsilon: z.number().positive('budget.epsilon must be > 0'),
    delta: z.number().gt(0).lt(1, 'budget.delta must be in (0, 1), typically below 1 / number of clients'),
  }).optional(),
  /** `crypto` for real runs; `seeded` only for reproducible simulations (seeded noise protects nothing). */
  noiseSource: z.enum(['crypto', 'seeded']).default('crypto'),
});

export type DpConfigInput = z.input<typeof dpConfigSchema>;
export type DpConfig = z.output<typeof dpConfigSchema>;
