/**
 * FedYogi (Reddi et al. 2021): v <- v - (1 - beta2) Δ² sign(v - Δ²). Unlike Adam, v changes additively, so
 * a sudden large pseudo-gradient raises the effective step size more slowly.
 */
import { z } from 'zod';
import { strictObject } from '../../shared/config/strict-object.ts';
import { AdaptiveServerOptimizer, adaptiveOptimizerFields } from './adaptive-server-optimizer.ts';

export const fedYogiSchema = strictObject({ name: z.literal('fedyogi'), ...adaptiveOptimizerFields });

export class FedYogi extends AdaptiveServerOptimizer {
  readonly name = 'fedyogi';

  protected secondMoment(v: number, deltaSq: number): number {
    return v - (1 - this.config.beta2) * deltaSq * Math.sign(v - deltaSq);
  }
}
