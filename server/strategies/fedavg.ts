/**
 * FedAvg (McMahan et al. 2017): the new global is the weighted mean of the clients' tensors — more precisely,
 * whatever the method's rule per tensor says (weighted mean, nested prefix mean, FLoRA stacking, HetLoRA
 * padding), streamed as updates arrive.
 */
import { z } from 'zod';
import { strictObject } from '../../shared/config/strict-object.ts';
import type { RuleKind } from '../../shared/aggregation/rules/rule-implementation.ts';
import { ALL_SHARED_RULES, BaseStrategy } from './base-strategy.ts';
import { samplingSchema } from './client-sampler.ts';

export const fedAvgSchema = strictObject({
  name: z.literal('fedavg'),
  sampling: samplingSchema,
});

export class FedAvg extends BaseStrategy {
  readonly name: string = 'fedavg';
  protected readonly acceptedRules: ReadonlySet<RuleKind> = ALL_SHARED_RULES;
}
