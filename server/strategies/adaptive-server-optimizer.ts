/**
 * The shared part of FedAdam and FedYogi (Reddi et al. 2021, Algorithm 2), on Δ = mean - global:
 *   m <- beta1 m + (1 - beta1) Δ
 *   v <- (rule of the variant)
 *   x <- x + lr * m / (sqrt(v) + tau)
 * As in the paper there is no bias correction and v starts at tau^2 (the paper requires v_{-1} >= tau^2).
 */
import { z } from 'zod';
import { samplingSchema } from './client-sampler.ts';
import type { ClientSampler } from './client-sampler.ts';
import { type OptimizerSlots, ServerOptimizerStrategy } from './server-optimizer-strategy.ts';

/** Defaults: Reddi et al.'s beta1 = 0.9, beta2 = 0.99, and the middle of their tuned grids for lr and tau. */
export const adaptiveOptimizerFields = {
  sampling: samplingSchema,
  /** Server learning rate eta; default 0.01. */
  serverLearningRate: z.number().gt(0, 'serverLearningRate must be > 0').default(1e-2),
  beta1: z.number().min(0).lt(1, 'beta1 must be in [0, 1)').default(0.9),
  beta2: z.number().min(0).lt(1, 'beta2 must be in [0, 1)').default(0.99),
  /** Adaptivity tau (larger = closer to plain momentum SGD); default 1e-3. */
  tau: z.number().gt(0, 'tau must be > 0').default(1e-3),
};

export interface AdaptiveOptimizerConfig {
  serverLearningRate: number;
  beta1: number;
  beta2: number;
  tau: number;
}

export abstract class AdaptiveServerOptimizer extends ServerOptimizerStrategy {
  protected readonly slotNames = ['m', 'v'] as const;

  constructor(
    sampler: ClientSampler,
    readonly config: AdaptiveOptimizerConfig,
  ) {
    super(sampler);
  }

  /** The new second moment from the old one and Δ². */
  protected abstract secondMoment(v: number, deltaSq: number): number;

  protected override initialSlotValue(slot: string): number {
    return slot === 'v' ? this.config.tau * this.config.tau : 0;
  }

  protected step(x: Float32Array, mean: Float32Array, slots: OptimizerSlots, out: Float32Array): void {
    const m = slots.m as Float32Array;
    const v = slots.v as Float32Array;
    const { serverLearningRate: lr, beta1, tau } = this.config;
    for (let i = 0; i < x.length; i++) {
      const delta = (mean[i] as number) - (x[i] as number);
      m[i] = beta1 * (m[i] as number) + (1 - beta1) * delta;
      v[i] = this.secondMoment(v[i] as number, delta * delta);
      out[i] = (x[i] as number) + (lr * (m[i] as number)) / (Math.sqrt(v[i] as number) + tau);
    }
  }
}
