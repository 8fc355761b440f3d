/**
 * The privacy block of a scenario: client-level differential privacy (DP-FedAvg clipping + Gaussian noise,
 * accounted by the RDP accountant in `shared/privacy`) and secure aggregation (Bonawitz et al.). Both are off
 * unless their block is present. The numeric fields mirror what `shared/privacy/dp.ts`,
 * `adaptive-clipping.ts` and `secagg/config.ts` take, so the runner passes them through unchanged.
 */
import { z } from 'zod';
import { strictObject } from '../shared/config/strict-object.ts';
import { checkDpPlacement } from '../shared/privacy/placement-rules.ts';
import { secAggConfigSchema } from '../shared/privacy/secagg/config.ts';

export const DP_PLACEMENTS = ['central', 'distributed', 'local'] as const;

const adaptiveClippingSchema = strictObject({
  targetQuantile: z
    .number()
    .gt(0, 'targetQuantile must be in (0, 1)')
    .lt(1, 'targetQuantile must be in (0, 1)')
    .default(0.5)
    .describe('γ: the quantile of update norms the clip norm tracks (0.5 = median, the paper default).'),
  learningRate: z
    .number()
    .positive('learningRate must be > 0')
    .default(0.2)
    .describe('η: geometric step of the clip-norm update per round.'),
});

export const dpSettingsSchema = strictObject({
  placement: z
    .enum(DP_PLACEMENTS, { error: `dp.placement must be one of: ${DP_PLACEMENTS.join(', ')}` })
    .default('central')
    .describe(
      'Where the noise is added: central (coordinator, to the sum), distributed (each client adds its share ' +
        'before secure aggregation; needs privacy.secureAggregation), local (each client noises its own update).',
    ),
  clipNorm: z
    .number({ error: 'clipNorm must be a number > 0' })
    .positive('clipNorm must be > 0 (the L2 bound of each client update)')
    .default(1)
    .describe(
      'C: every client update is clipped to this L2 norm (the initial value with adaptive clipping).',
    ),
  adaptiveClipping: adaptiveClippingSchema
    .optional()
    .describe(
      'Track a quantile of the update norms instead of a fixed clip norm (Andrew et al. 2021). Default: off.',
    ),
  noiseMultiplier: z
    .number({ error: 'noiseMultiplier must be a number > 0' })
    .positive('noiseMultiplier must be > 0 (noise std divided by the clip norm)')
    .default(1)
    .describe('z: Gaussian noise std = z * C on the sum of updates.'),
  targetDelta: z
    .number({ error: 'targetDelta must be a number in (0, 1)' })
    .gt(0, 'targetDelta must be in (0, 1), typically below 1 / number of clients')
    .lt(1, 'targetDelta must be in (0, 1), typically below 1 / number of clients')
    .default(1e-5)
    .describe('δ of the reported (ε, δ) guarantee.'),
  epsilonBudget: z
    .number({ error: 'epsilonBudget must be a number > 0' })
    .positive('epsilonBudget must be > 0')
    .optional()
    .describe(
      'Stop the run before a round would push ε past this budget. Default: no budget (ε is only reported).',
    ),
});

export const secureAggregationSettingsSchema = strictObject({
  threshold: secAggConfigSchema.shape.threshold
    .optional()
    .describe(
      "t: shares needed to unmask; the sum survives up to (clients - t) dropouts. Default: more than half of the round's clients.",
    ),
  clipRange: secAggConfigSchema.shape.clipRange.describe(
    'R: each weighted value is clipped to [-R, R] before fixed-point encoding.',
  ),
  fractionalBits: secAggConfigSchema.shape.fractionalBits.describe(
    'f: fixed-point scale 2^f; quantization error per value is at most 2^-(f+1).',
  ),
});

export const privacySettingsSchema = strictObject({
  dp: dpSettingsSchema
    .optional()
    .describe('Client-level differential privacy with an RDP accountant. Default: off.'),
  secureAggregation: secureAggregationSettingsSchema
    .optional()
    .describe('Secure aggregation: the coordinator only learns the sum of updates. Default: off.'),
}).superRefine(checkDpPlacement);

export type PrivacySettings = z.output<typeof privacySettingsSchema>;
export type DpSettings = z.output<typeof dpSettingsSchema>;
