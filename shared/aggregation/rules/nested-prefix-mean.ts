/**
 * Nested ranks (PiCa on weak devices): client k trains only the first r_k entries along `axis` (rows of
 * `B_role`). Each entry is averaged over the clients whose extent covers it; entries nobody trained keep the
 * previous global value. Streaming: one float64 accumulator plus one weight per index along the axis.
 */
import { FedpeftError } from '../../errors.ts';
import type { HostTensor } from '../../tensor/host-tensor.ts';
import { WeightedSumBuffer } from '../weighted-sum-buffer.ts';
import type { RuleAccumulator, RuleImplementation, TensorPart } from './rule-implementation.ts';

class NestedPrefixMeanAccumulator implements RuleAccumulator {
  private readonly buffer: WeightedSumBuffer;

  constructor(
    private readonly previous: HostTensor,
    axis: number,
  ) {
    this.buffer = new WeightedSumBuffer(previous.shape, axis);
  }

  check(part: TensorPart, label: string): void {
    this.buffer.check(part.weight, part.tensor, label, part.trainedExtent);
  }

  fold(part: TensorPart): void {
    this.buffer.foldChecked(part.weight, part.tensor, part.trainedExtent);
  }

  result(): HostTensor {
    return this.buffer.mean('coverage', this.previous);
  }
}

export const nestedPrefixMeanRule: RuleImplementation<'nested-prefix-mean'> = {
  kind: 'nested-prefix-mean',
  description: 'each row/column averaged over the clients whose nested rank covers it; untrained ones kept',
  streaming: true,
  meanLike: true,
  createAccumulator(rule, name, previous) {
    if (!previous) {
      throw new FedpeftError(
        'AGGREGATION_PREVIOUS_REQUIRED',
        `tensor "${name}": nested-prefix-mean needs the current global value (full rank, and the value kept for untrained rows)`,
      );
    }
    return new NestedPrefixMeanAccumulator(previous, rule.axis);
  },
};
