/**
 * FedProx (Li et al. 2020): aggregation is FedAvg; the difference is on the client, which adds
 * (mu / 2) ||w - w_global||^2 to its loss so local training drifts less on non-IID data. The strategy's part
 * is to put `proximalMu` into every instruction.
 */
import { z } from 'zod';
import { strictObject } from '../../shared/config/strict-object.ts';
import type { ClientSampler } from './client-sampler.ts';
import { samplingSchema } from './client-sampler.ts';
import { FedAvg } from './fedavg.ts';
import type { ClientInstruction, ConfigureContext } from './strategy.ts';

export const fedProxSchema = strictObject({
  name: z.literal('fedprox'),
  sampling: samplingSchema,
  /** Proximal weight mu; the paper tries {0.001, 0.01, 0.1, 1}. Default 0.01. 0 is FedAvg. */
  proximalMu: z.number().min(0, 'proximalMu must be >= 0 (0 turns FedProx into FedAvg)').default(0.01),
});

export class FedProx extends FedAvg {
  override readonly name: string = 'fedprox';

  constructor(
    sampler: ClientSampler,
    readonly proximalMu: number,
  ) {
    super(sampler);
  }

  protected override instructionFor(clientId: string, context: ConfigureContext): ClientInstruction {
    return { ...super.instructionFor(clientId, context), proximalMu: this.proximalMu };
  }
}
