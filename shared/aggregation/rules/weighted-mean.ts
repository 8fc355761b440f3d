/**
 * `sum_k w_k T_k / sum_k w_k`, streaming. Exact for single-factor methods (PiCa, cLA, FFA-LoRA, LoSA's B):
 * the other factor is identical on every client, so the mean of the factor is the mean of the weight updates.
 */
import { FedpeftError } from '../../errors.ts';
import type { HostTensor } from '../../tensor/host-tensor.ts';
import { assertFinite, assertWellFormed } from '../host-math.ts';
import { WeightedSumBuffer, assertValidWeight } from '../weighted-sum-buffer.ts';
import type { RuleAccumulator, RuleImplementation, TensorPart } from './rule-implementation.ts';

class WeightedMeanAccumulator implements RuleAccumulator {
  private buffer: WeightedSumBuffer | undefined;

  constructor(previous: HostTensor | undefined) {
    // The global's shape is authoritative; without one (a fresh tensor) the first client's shape is.
    if (previous) this.buffer = new WeightedSumBuffer(previous.shape);
  }

  check(part: TensorPart, label: string): void {
    if (this.buffer) {
      this.buffer.check(part.weight, part.tensor, label, part.trainedExtent);
      return;
    }
    // No buffer yet: validate without allocating one (an untrusted shape must not size an allocation).
    assertValidWeight(part.weight, label);
    assertWellFormed(part.tensor, label);
    if (part.trainedExtent !== undefined) {
      throw new FedpeftError(
        'AGGREGATION_INVALID_EXTENT',
        `${label}: weighted-mean tensors take no trained extent`,
      );
    }
    assertFinite(part.tensor, label);
  }

  fold(part: TensorPart): void {
    this.buffer ??= new WeightedSumBuffer(part.tensor.shape);
    this.buffer.foldChecked(part.weight, part.tensor);
  }

  result(): HostTensor {
    if (!this.buffer) throw new FedpeftError('AGGREGATION_EMPTY', 'no update was added');
    return this.buffer.mean();
  }
}

export const weightedMeanRule: RuleImplementation<'weighted-mean'> = {
  kind: 'weighted-mean',
  description: 'weighted mean of the clients’ tensors (exact for single-factor adapters)',
  streaming: true,
  meanLike: true,
  createAccumulator: (_rule, _name, previous) => new WeightedMeanAccumulator(previous),
};
