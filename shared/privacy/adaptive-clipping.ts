/**
 * Adaptive quantile clipping (Andrew, Thakkar, McMahan, Ramaswamy 2021, "Differentially Private Learning with
 * Adaptive Clipping"): instead of guessing the clip norm C, track the γ-quantile of the clients' update norms.
 * Each round every participating client reports whether its update norm was within the current C; the server
 * noises the count and moves C geometrically:
 *   b̄ = (Σ_i (b_i - ½) + N(0, σ_b²)) / m + ½,   C ← C · exp(-η (b̄ - γ)).
 * Reporting b_i - ½ instead of b_i halves the count's sensitivity (to ½), as the paper and TFF's quantile
 * estimator do; the ±½ values can travel through secure aggregation as one extra coordinate.
 *
 * The count query spends privacy too. The paper's Theorem 1: the pair (update with noise multiplier z_Δ,
 * count with noise std σ_b) is a Gaussian mechanism with multiplier z, where z^-2 = z_Δ^-2 + (2σ_b)^-2. So to
 * stay at the accounted z the updates must use `adaptiveUpdateNoiseMultiplier(z, σ_b)` > z.
 */
import type { GaussianSource } from './gaussian-source.ts';
import { FedpeftError } from '../errors.ts';

export interface AdaptiveClippingOptions {
  /** Starting C (paper: 0.1; it adapts quickly either way). */
  initialClipNorm: number;
  /** γ, the quantile of update norms C should track. Default 0.5 (the median, the paper's recommendation). */
  targetQuantile?: number;
  /** η, the geometric learning rate. Default 0.2 (paper). */
  learningRate?: number;
  /** m, expected clients per round: the fixed denominator (the actual count is itself private). */
  expectedClients: number;
  /** σ_b, std of the noise on the count. Default m/20 (paper). */
  countNoiseStd?: number;
}

export class AdaptiveClipper {
  private clip: number;
  readonly targetQuantile: number;
  readonly learningRate: number;
  readonly expectedClients: number;
  readonly countNoiseStd: number;

  constructor(options: AdaptiveClippingOptions) {
    const { initialClipNorm, expectedClients } = options;
    this.targetQuantile = options.targetQuantile ?? 0.5;
    this.learningRate = options.learningRate ?? 0.2;
    this.expectedClients = expectedClients;
    this.countNoiseStd = options.countNoiseStd ?? expectedClients / 20;
    if (!(Number.isFinite(initialClipNorm) && initialClipNorm > 0))
      invalid(`initial clip norm must be > 0, got ${initialClipNorm}`);
    if (!(this.targetQuantile > 0 && this.targetQuantile < 1))
      invalid(`target quantile must be in (0, 1), got ${this.targetQuantile}`);
    if (!(Number.isFinite(this.learningRate) && this.learningRate > 0))
      invalid(`learning rate must be > 0, got ${this.learningRate}`);
    if (!(Number.isFinite(expectedClients) && expectedClients > 0))
      invalid(`expected clients per round must be > 0, got ${expectedClients}`);
    if (!(Number.isFinite(this.countNoiseStd) && this.countNoiseStd >= 0))
      invalid(`count noise std must be >= 0, got ${this.countNoiseStd}`);
    this.clip = initialClipNorm;
  }

  get clipNorm(): number {
    return this.clip;
  }

  /** What a client reports for the count: +½ if its update norm was within C, else -½. */
  static indicator(updateNorm: number, clipNorm: number): number {
    return updateNorm <= clipNorm ? 0.5 : -0.5;
  }

  /**
   * Server side, once per round: `indicatorSum` is Σ_i (b_i - ½) over the round's participants (from the
   * aggregate). Returns the noised fraction b̄ and moves C.
   */
  update(indicatorSum: number, source: GaussianSource): { unclippedFraction: number; clipNorm: number } {
    if (!Number.isFinite(indicatorSum)) invalid(`indicator sum must be finite, got ${indicatorSum}`);
    const noisy = indicatorSum + this.countNoiseStd * source.normal();
    const unclippedFraction = noisy / this.expectedClients + 0.5;
    this.clip *= Math.exp(-this.learningRate * (unclippedFraction - this.targetQuantile));
    return { unclippedFraction, clipNorm: this.clip };
  }
}

/**
 * The noise multiplier the UPDATES need so that updates + count together are a Gaussian mechanism with the
 * accounted multiplier z (Andrew et al. 2021, Theorem 1): z_Δ = (z^-2 - (2σ_b)^-2)^(-1/2).
 */
export function adaptiveUpdateNoiseMultiplier(noiseMultiplier: number, countNoiseStd: number): number {
  const z = noiseMultiplier;
  if (!(z > 0)) invalid(`noise multiplier must be > 0, got ${z}`);
  if (!(2 * countNoiseStd > z)) {
    invalid(
      `the count noise std σ_b = ${countNoiseStd} spends the whole budget: adaptive clipping needs 2σ_b > z = ${z} (raise σ_b or the expected clients)`,
    );
  }
  return 1 / Math.sqrt(z ** -2 - (2 * countNoiseStd) ** -2);
}

function invalid(message: string): never {
  throw new FedpeftError('INVALID_DP_CONFIG', message);
}
