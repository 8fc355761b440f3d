/**
 * Coordinate-wise median (Yin et al. 2018): robust to up to half the clients being arbitrary. Unweighted
 * (see trimmed mean); an even count averages the two middle values. Buffers the round.
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

export const coordinateMedianSchema = strictObject({
  name: z.literal('coordinate-median'),
  sampling: samplingSchema,
  maxBufferedBytes: maxBufferedBytesField,
});

export function medianOfSorted(sorted: Float64Array): number {
  const n = sorted.length;
  const mid = n >> 1;
  return n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export class CoordinateMedian extends BaseStrategy {
  readonly name = 'coordinate-median';
  protected readonly acceptedRules: ReadonlySet<RuleKind> = new Set(['weighted-mean']);

  constructor(
    sampler: ClientSampler,
    readonly maxBufferedBytes: number,
  ) {
    super(sampler);
  }

  protected override createCombiner(context: AggregateContext): UpdateCombiner {
    return new BufferedUpdates(context, this.maxBufferedBytes, medianOfSorted);
  }

  protected override unsupportedRuleHint(): string {
    return 'Coordinate-wise statistics need every client to send the same full-shape tensors.';
  }
}
