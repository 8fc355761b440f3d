/**
 * The `privacy` block of a coordinator config (and, with the same field names, of a simulation scenario), and
 * the one function that turns it into wrappers around the run's strategy:
 *
 *   withPrivacy(createStrategy(...), config.privacy, { runId, seed })
 *     -> strategy | dp(strategy) | secagg(strategy) | secagg(dp(strategy))
 *
 * Both are off unless their block is present. DP with secure aggregation must use placement `distributed`
 * (or `local`): the coordinator cannot clip updates it never sees.
 */
import { z } from 'zod';
import { strictObject } from '../../shared/config/strict-object.ts';
import { checkDpPlacement } from '../../shared/privacy/placement-rules.ts';
import { FedpeftError } from '../../shared/errors.ts';
import { formatZodError } from '../../shared/config/format-error.ts';
import { MAX_SECAGG_CLIENTS } from '../../shared/privacy/secagg/config.ts';
import type { HeldVector } from '../../shared/privacy/secagg/server.ts';
import type { Strategy } from '../strategies/strategy.ts';
import { DifferentiallyPrivate } from './dp-strategy.ts';
import { SecureAggregation } from './secure-aggregation.ts';

export const privacyConfigSchema = strictObject({
  dp: strictObject({
    /** central (coordinator noises the sum), distributed (clients add shares; needs secureAggregation), local. */
    placement: z.enum(['central', 'distributed', 'local']).default('central'),
    /** C: L2 bound of each client's delta (the starting value with adaptive clipping). */
    clipNorm: z
      .number()
      .positive('privacy.dp.clipNorm must be > 0 (L2 bound of each client update)')
      .default(1),
    /** Track a quantile of the update norms instead of a fixed C (central placement only). */
    adaptiveClipping: strictObject({
      targetQuantile: z.number().gt(0).lt(1, 'targetQuantile must be in (0, 1)').default(0.5),
      learningRate: z.number().positive().default(0.2),
    }).optional(),
    /** z: noise std on the sum = z·C. */
    noiseMultiplier: z
      .number()
      .positive('privacy.dp.noiseMultiplier must be > 0 (noise std / clip norm)')
      .default(1),
    /** δ of the reported (ε, δ). */
    targetDelta: z
      .number()
      .gt(0)
      .lt(1, 'privacy.dp.targetDelta must be in (0, 1), typically < 1 / clients')
      .default(1e-5),
    /** Stop the run before a round would take ε past this. Default: none (ε is only reported). */
    epsilonBudget: z.number().positive('privacy.dp.epsilonBudget must be > 0').optional(),
    /** N for the sampling rate q = sampled / N. Default: the clients connected when a round is configured. */
    population: z.int().min(1, 'privacy.dp.population must be >= 1').optional(),
    /** `seeded` only for reproducible simulations: seeded noise protects nothing. */
    noiseSource: z.enum(['crypto', 'seeded']).default('crypto'),
  }).optional(),
  secureAggregation: strictObject({
    /** t; default: more than half of each round's participants. */
    threshold: z.int().min(2).max(MAX_SECAGG_CLIENTS).optional(),
    /** R: weighted delta values are clipped to [-R, R] before fixed-point encoding. */
    clipRange: z.number().positive('privacy.secureAggregation.clipRange must be > 0').default(8),
    /** f: fixed-point scale 2^f. */
    fractionalBits: z.int().min(0).max(48).default(16),
    /**
     * How long the coordinator waits in each of the short phases (advertise keys, share keys, unmask)
     * before closing it with the clients that answered; the masked-input phase ends at the round deadline.
     */
    phaseTimeoutMs: z
      .int()
      .min(100, 'privacy.secureAggregation.phaseTimeoutMs must be >= 100')
      .default(30_000),
  }).optional(),
})
  .superRefine(checkDpPlacement)
  .prefault({});

export type PrivacyConfig = z.output<typeof privacyConfigSchema>;
export type PrivacyConfigInput = z.input<typeof privacyConfigSchema>;

export function parsePrivacyConfig(input: unknown): PrivacyConfig {
  const parsed = privacyConfigSchema.safeParse(input ?? {});
  if (!parsed.success) {
    throw new FedpeftError('INVALID_CONFIG', `privacy config is invalid:\n${formatZodError(parsed.error)}`);
  }
  return parsed.data;
}

/** Wraps `strategy` in the configured privacy wrappers (DP inside, secure aggregation outside). */
export function withPrivacy(
  strategy: Strategy,
  input: PrivacyConfigInput | undefined,
  env: {
    runId: string;
    seed: number;
    /** Audit hook: every vector a secure round's coordinator holds (tests check none is an individual update). */
    onVectorHeld?: (held: HeldVector) => void;
  },
): Strategy {
  const config = parsePrivacyConfig(input);
  let out = strategy;
  const dp = config.dp;
  if (dp) {
    out = new DifferentiallyPrivate(out, {
      config: {
        placement: dp.placement,
        noiseMultiplier: dp.noiseMultiplier,
        clipNorm: dp.clipNorm,
        ...(dp.adaptiveClipping ? { adaptiveClipping: dp.adaptiveClipping } : {}),
        ...(dp.epsilonBudget !== undefined
          ? { budget: { epsilon: dp.epsilonBudget, delta: dp.targetDelta } }
          : {}),
        noiseSource: dp.noiseSource,
      },
      reportDelta: dp.targetDelta,
      seed: env.seed,
      ...(dp.population !== undefined ? { population: dp.population } : {}),
      ...(config.secureAggregation?.threshold !== undefined
        ? { minClients: () => config.secureAggregation?.threshold as number }
        : {}),
    });
  }
  const sa = config.secureAggregation;
  if (sa) {
    out = new SecureAggregation(out, {
      runId: env.runId,
      clipRange: sa.clipRange,
      fractionalBits: sa.fractionalBits,
      ...(env.onVectorHeld ? { onVectorHeld: env.onVectorHeld } : {}),
      ...(sa.threshold !== undefined ? { threshold: () => sa.threshold as number } : {}),
    });
  }
  return out;
}
