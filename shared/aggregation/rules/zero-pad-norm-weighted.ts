/**
 * HetLoRA (Cho et al. 2024, "sparsity-weighted aggregation"): each client's factor is zero-padded along the
 * rank `axis` to r_max (the global's rank) and weighted by s_k = ‖B_k A_k‖_F, which the client reports with
 * its update (`norms`); the global is sum_k s_k pad(T_k) / sum_k s_k, and each client later takes the first
 * r_k entries back (`prefixAlong`). As in the paper the weight is the norm alone, not the data size.
 *
 * Streaming: padding is just folding a prefix, so memory is one accumulator of the global's shape. A client
 * whose norm is 0 (it did not move its factors) adds nothing; if every norm is 0 the global is kept.
 */
import { FedpeftError } from '../../errors.ts';
import type { HostTensor } from '../../tensor/host-tensor.ts';
import { cloneHost } from '../host-math.ts';
import { WeightedSumBuffer } from '../weighted-sum-buffer.ts';
import type { RuleAccumulator, RuleImplementation, TensorPart } from './rule-implementation.ts';

class ZeroPadNormWeightedAccumulator implements RuleAccumulator {
  private readonly buffer: WeightedSumBuffer;

  constructor(
    private readonly previous: HostTensor,
    axis: number,
  ) {
    this.buffer = new WeightedSumBuffer(previous.shape, axis);
  }

  check(part: TensorPart, label: string): void {
    const norm = part.norm;
    if (norm === undefined || typeof norm !== 'number' || !Number.isFinite(norm) || norm < 0) {
      throw new FedpeftError(
        'AGGREGATION_INVALID_NORM',
        `${label}: HetLoRA needs the client's finite ‖B A‖_F >= 0 for this tensor (norms), got ${norm}`,
      );
    }
    // The buffer validates shape, extent and values; a zero norm is checked as a unit weight and then skipped.
    this.buffer.check(norm > 0 ? norm : 1, part.tensor, label, part.trainedExtent);
  }

  fold(part: TensorPart): void {
    const norm = part.norm as number;
    if (norm === 0) return;
    this.buffer.foldChecked(norm, part.tensor, part.trainedExtent);
  }

  result(): HostTensor {
    if (this.buffer.count === 0) return cloneHost(this.previous);
    return this.buffer.mean('total');
  }
}

export const zeroPadNormWeightedRule: RuleImplementation<'zero-pad-norm-weighted'> = {
  kind: 'zero-pad-norm-weighted',
  description: 'HetLoRA: zero-pad to r_max, weight by ‖B_k A_k‖_F; clients truncate to their rank',
  streaming: true,
  meanLike: false,
  createAccumulator(rule, name, previous) {
    if (!previous) {
      throw new FedpeftError(
        'AGGREGATION_PREVIOUS_REQUIRED',
        `tensor "${name}": zero-pad-norm-weighted needs the current global value (it fixes r_max)`,
      );
    }
    return new ZeroPadNormWeightedAccumulator(previous, rule.axis);
  },
};
