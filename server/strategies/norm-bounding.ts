/**
 * Norm bounding (Sun et al. 2019, "Can You Really Backdoor Federated Learning?"): each client's update
 * delta Δ_k = T_k - global, over all its shared tensors together, is scaled to L2 norm at most `maxNorm`
 * before the weighted mean: global + sum_k p_k Δ_k min(1, M / ||Δ_k||). It stays streaming. For nested ranks
 * only the trained prefix is the update (and is what is clipped).
 */
import { z } from 'zod';
import { strictObject } from '../../shared/config/strict-object.ts';
import { prefixAlong } from '../../shared/aggregation/host-math.ts';
import { FedpeftError } from '../../shared/errors.ts';
import type { RuleKind } from '../../shared/aggregation/rules/rule-implementation.ts';
import type { HostTensor, HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { BaseStrategy, type RoundMetrics } from './base-strategy.ts';
import type { ClientSampler } from './client-sampler.ts';
import { samplingSchema } from './client-sampler.ts';
import type { AggregateContext, ClientUpdate } from './strategy.ts';
import type { UpdateCombiner } from './update-combiner.ts';

export const normBoundingSchema = strictObject({
  name: z.literal('norm-bounding'),
  sampling: samplingSchema,
  /** Required: no value suits every adapter. A common choice is a high percentile of honest update norms. */
  maxNorm: z
    .number({
      error:
        'maxNorm is required: the L2 bound on each client update (e.g. the 90th percentile of update norms)',
    })
    .gt(0, 'maxNorm must be > 0'),
});

export class NormBounding extends BaseStrategy {
  readonly name = 'norm-bounding';
  /** The two mean rules it knows how to take a delta of (nested ranks: the trained prefix). */
  protected readonly acceptedRules: ReadonlySet<RuleKind> = new Set(['weighted-mean', 'nested-prefix-mean']);

  constructor(
    sampler: ClientSampler,
    readonly maxNorm: number,
  ) {
    super(sampler);
  }

  protected override prepareUpdate(
    update: ClientUpdate,
    context: AggregateContext,
    metrics: RoundMetrics,
    combiner: UpdateCombiner,
  ): ClientUpdate {
    combiner.check(update);
    // The region each tensor contributes, and the global over the same region.
    const regions = new Map<string, { sent: HostTensor; base: HostTensor }>();
    let sq = 0;
    for (const [name, tensor] of update.tensors) {
      const rule = context.rules.get(name);
      let sent = tensor;
      const global = context.global.get(name);
      if (!global) {
        throw new FedpeftError(
          'STRATEGY_STATE_MISMATCH',
          `norm bounding needs the current global of tensor "${name}" to measure the update against`,
        );
      }
      let base = global;
      if (rule?.kind === 'nested-prefix-mean') {
        const extent = update.trainedExtents?.get(name) ?? tensor.shape[rule.axis] ?? 0;
        sent = prefixAlong(tensor, rule.axis, extent);
        base = prefixAlong(base, rule.axis, extent);
      }
      for (let i = 0; i < sent.data.length; i++) {
        const d = (sent.data[i] as number) - (base.data[i] as number);
        sq += d * d;
      }
      regions.set(name, { sent, base });
    }
    const norm = Math.sqrt(sq);
    metrics.maxUpdateNorm = Math.max(metrics.maxUpdateNorm ?? 0, norm);
    metrics.clippedClients = metrics.clippedClients ?? 0;
    if (norm <= this.maxNorm) return update;
    metrics.clippedClients += 1;
    const scale = this.maxNorm / norm;
    const tensors: HostTensorMap = new Map();
    for (const [name, { sent, base }] of regions) {
      const data = new Float32Array(sent.data.length);
      for (let i = 0; i < data.length; i++) {
        data[i] = (base.data[i] as number) + scale * ((sent.data[i] as number) - (base.data[i] as number));
      }
      tensors.set(name, { shape: [...sent.shape], data });
    }
    // Extents are now the sent sizes, so they are dropped; HetLoRA norms do not apply to mean rules.
    return { clientId: update.clientId, weight: update.weight, tensors };
  }

  protected override unsupportedRuleHint(): string {
    return 'Clipping needs an update delta against a same-shape global.';
  }
}
