/**
 * How a strategy combines a round's validated updates before its server step: streaming through the
 * rule-based `Aggregator` (the default), or buffering for robust statistics (`buffered-updates.ts`).
 */
import { Aggregator } from '../../shared/aggregation/aggregator.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { AggregateContext, ClientUpdate } from './strategy.ts';

export interface UpdateCombiner {
  readonly count: number;
  readonly totalWeight: number;
  readonly contributors: string[];
  /** Throws a `FedpeftError` if `add` would reject the update; changes nothing. */
  check(update: ClientUpdate): void;
  add(update: ClientUpdate): void;
  result(): HostTensorMap;
}

/** The method's rules, folded as updates arrive: memory independent of the number of clients (except `stack`). */
export function streamingCombiner(context: AggregateContext): UpdateCombiner {
  return new Aggregator({ rules: context.rules, previous: context.global });
}
