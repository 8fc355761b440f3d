/**
 * Coordinate-wise trimmed mean (Yin et al. 2018): at every coordinate drop the floor(beta n) smallest and
 * largest client values and average the rest. Unweighted on purpose — a client claiming a huge example count
 * must not be able to drag a robust statistic. Buffers the round (see `buffered-updates.ts`).
 */
import { z } from 'zod';
import { strictObject } from '../../shared/config/strict-object.ts';
import type { RuleKind } from '../../shared/aggregation/rules/rule-implementation.ts';
import { BaseStrategy } from './base-strategy.ts';
import { BufferedUpdates, maxBufferedBytesField } from './buffered-updates.ts';
import type { ClientSampler } from './client-sampler.ts';
import { samplingSchema } from './client-sampler.ts';
import type { AggregateContext } from './strategy.ts';
import type { UpdateCombiner } from './update-combiner.ts';

export const trimmedMeanSchema = strictObject({
  name: z.literal('trimmed-mean'),
  sampling: samplingSchema,
  /** beta: fraction trimmed at EACH end, in [0, 0.5); default 0.1 (tolerates up to 10% outliers per side). */
  trimFraction: z
    .number()
    .min(0)
    .lt(0.5, 'trimFraction must be < 0.5 (it is trimmed at each end)')
    .default(0.1),
  maxBufferedBytes: maxBufferedBytesField,
});

export function trimmedMeanOfSorted(sorted: Float64Array, trimFraction: number): number {
  const k = Math.floor(trimFraction * sorted.length);
  let s = 0;
  for (let i = k; i < sorted.length - k; i++) s += sorted[i] as number;
  return s / (sorted.length - 2 * k);
}

export class TrimmedMean extends BaseStrategy {
  readonly name = 'trimmed-mean';
  protected readonly acceptedRules: ReadonlySet<RuleKind> = new Set(['weighted-mean']);

  constructor(
    sampler: ClientSampler,
    readonly trimFraction: number,
    readonly maxBufferedBytes: number,
  ) {
    super(sampler);
  }

  protected override createCombiner(context: AggregateContext): UpdateCombiner {
    return new BufferedUpdates(context, this.maxBufferedBytes, (sorted) =>
      trimmedMeanOfSorted(sorted, this.trimFraction),
    );
  }

  protected override unsupportedRuleHint(): string {
    return 'Coordinate-wise statistics need every client to send the same full-shape tensors.';
  }
}
