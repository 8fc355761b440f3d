/**
 * FLoRA stacking. In the TF convention ΔK = A B with A [in, r] and B [r, out]: A' = [p_1 A_1 | p_2 A_2 | ...]
 * (rank axis 1, scaled by p_k = w_k / sum w) and B' = [B_1; B_2; ...] (rank axis 0), so
 * A' B' = sum_k p_k A_k B_k exactly, for any mix of client ranks. Both factors of a layer are stacked in the
 * order contributions arrive, which is the same for every tensor because the aggregator folds a client's
 * tensors together.
 *
 * Not streaming, by nature: the result's rank axis is the sum of the clients' ranks, so memory grows with the
 * number of clients (one copy of every client's factors until the round closes).
 */
import { FedpeftError } from '../../errors.ts';
import type { HostTensor } from '../../tensor/host-tensor.ts';
import { assertFinite, assertWellFormed, cloneHost, concatAlong, describeShape } from '../host-math.ts';
import { assertValidWeight } from '../weighted-sum-buffer.ts';
import type { RuleAccumulator, RuleImplementation, TensorPart } from './rule-implementation.ts';

class StackAccumulator implements RuleAccumulator {
  private readonly parts: { weight: number; tensor: HostTensor }[] = [];

  constructor(
    private readonly axis: number,
    private readonly scaleByWeight: boolean,
  ) {}

  check(part: TensorPart, label: string): void {
    assertValidWeight(part.weight, label);
    assertWellFormed(part.tensor, label);
    if (part.trainedExtent !== undefined) {
      throw new FedpeftError(
        'AGGREGATION_INVALID_EXTENT',
        `${label}: stacked tensors take no trained extent`,
      );
    }
    const shape = part.tensor.shape;
    if (this.axis >= shape.length) {
      throw new FedpeftError(
        'AGGREGATION_SHAPE_MISMATCH',
        `${label}: shape ${describeShape(shape)} has no stacking axis ${this.axis}`,
      );
    }
    const first = this.parts[0]?.tensor.shape;
    if (first && (first.length !== shape.length || first.some((d, i) => i !== this.axis && d !== shape[i]))) {
      throw new FedpeftError(
        'AGGREGATION_SHAPE_MISMATCH',
        `${label}: shape ${describeShape(shape)} must match ${describeShape(first)} on every axis but ${this.axis}`,
      );
    }
    assertFinite(part.tensor, label);
  }

  fold(part: TensorPart): void {
    // A copy: the caller may reuse its decode buffers once `add` returns.
    this.parts.push({ weight: part.weight, tensor: cloneHost(part.tensor) });
  }

  result(): HostTensor {
    if (this.parts.length === 0) throw new FedpeftError('AGGREGATION_EMPTY', 'no update was added');
    const total = this.parts.reduce((s, p) => s + p.weight, 0);
    const scales = this.scaleByWeight ? this.parts.map((p) => p.weight / total) : undefined;
    return concatAlong(
      this.parts.map((p) => p.tensor),
      this.axis,
      scales,
    );
  }
}

export const stackRule: RuleImplementation<'stack'> = {
  kind: 'stack',
  description:
    'FLoRA: concatenate client factors along the rank axis (A scaled by w_k / sum w); exact for any ranks',
  streaming: false,
  meanLike: false,
  createAccumulator: (rule) => new StackAccumulator(rule.axis, rule.scaleByWeight),
};
