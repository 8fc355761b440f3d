/**
 * The weight the coordinator gives one update: something it can bound, never an unbounded float from the
 * client. It is min(num_examples, weight) of the commit (either one when the other is 0), capped at
 * `limits.maxExampleWeight`. Strategies that weight by something else (HetLoRA's norms) ignore it.
 */
import { FedpeftError } from '../../shared/errors.ts';

export function boundedWeight(
  commit: { weight: number; numExamples: number },
  maxExampleWeight: number,
): number {
  const declared = [commit.weight, commit.numExamples].filter((w) => Number.isFinite(w) && w > 0);
  if (declared.length === 0) {
    throw new FedpeftError('MALFORMED_MESSAGE', 'update_commit needs weight > 0 (or num_examples > 0)');
  }
  return Math.min(...declared, maxExampleWeight);
}
