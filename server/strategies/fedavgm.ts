/**
 * FedAvgM (Hsu et al. 2019): server momentum on the pseudo-gradient g = global - mean:
 *   buf <- momentum * buf + g;  x <- x - lr * (nesterov ? g + momentum * buf : buf).
 * With lr = 1 and momentum = 0 it is exactly FedAvg. Same update as Flower's FedAvgM.
 */
import { z } from 'zod';
import { strictObject } from '../../shared/config/strict-object.ts';
import type { ClientSampler } from './client-sampler.ts';
import { samplingSchema } from './client-sampler.ts';
import { type OptimizerSlots, ServerOptimizerStrategy } from './server-optimizer-strategy.ts';

export const fedAvgMSchema = strictObject({
  name: z.literal('fedavgm'),
  sampling: samplingSchema,
  /** Server learning rate; default 1 (a plain FedAvg step before momentum). */
  serverLearningRate: z.number().gt(0, 'serverLearningRate must be > 0').default(1),
  /** Momentum beta in [0, 1); default 0.9 (Hsu et al.'s usual value). */
  momentum: z.number().min(0).lt(1, 'momentum must be in [0, 1)').default(0.9),
  nesterov: z.boolean().default(false),
});

export type FedAvgMConfig = Omit<z.output<typeof fedAvgMSchema>, 'name' | 'sampling'>;

export class FedAvgM extends ServerOptimizerStrategy {
  readonly name = 'fedavgm';
  protected readonly slotNames = ['momentum'] as const;

  constructor(
    sampler: ClientSampler,
    readonly config: FedAvgMConfig,
  ) {
    super(sampler);
  }

  protected step(x: Float32Array, mean: Float32Array, slots: OptimizerSlots, out: Float32Array): void {
    const buf = slots.momentum as Float32Array;
    const { serverLearningRate: lr, momentum: beta, nesterov } = this.config;
    for (let i = 0; i < x.length; i++) {
      const g = (x[i] as number) - (mean[i] as number);
      const b = beta * (buf[i] as number) + g;
      buf[i] = b;
      out[i] = (x[i] as number) - lr * (nesterov ? g + beta * (buf[i] as number) : (buf[i] as number));
    }
  }
}
