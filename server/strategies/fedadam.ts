/** FedAdam (Reddi et al. 2021): v <- beta2 v + (1 - beta2) Δ². */
import { z } from 'zod';
import { strictObject } from '../../shared/config/strict-object.ts';
import { AdaptiveServerOptimizer, adaptiveOptimizerFields } from './adaptive-server-optimizer.ts';

export const fedAdamSchema = strictObject({ name: z.literal('fedadam'), ...adaptiveOptimizerFields });

export class FedAdam extends AdaptiveServerOptimizer {
  readonly name = 'fedadam';

  protected secondMoment(v: number, deltaSq: number): number {
    const { beta2 } = this.config;
    return beta2 * v + (1 - beta2) * deltaSq;
  }
}
