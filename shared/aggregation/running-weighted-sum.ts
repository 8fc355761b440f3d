/**
 * A streaming weighted mean over named tensors: `add(weight, tensors)` folds one client's update into float64
 * accumulators at once (see `weighted-sum-buffer.ts` for why float64), so the coordinator's memory is one
 * accumulator per tensor whatever the number of clients. An update is validated completely — names, shapes,
 * finite values, weight, extents — before any of it is folded, so a rejected update leaves the sum exactly as
 * it was.
 *
 * Names and shapes come from `expected` when given (e.g. the current global), else from the first update.
 * Nested ranks: name the axis per tensor in `prefixAxes` and pass each client's trained extent to `add`.
 */
import { FedpeftError } from '../errors.ts';
import type { HostTensor, HostTensorMap } from '../tensor/host-tensor.ts';
import { assertWellFormed } from './host-math.ts';
import { WeightedSumBuffer, assertValidWeight } from './weighted-sum-buffer.ts';

export interface RunningWeightedSumOptions {
  /** Names and full shapes every update must have; defaults to the first update's. */
  expected?: ReadonlyMap<string, readonly number[]>;
  /** Tensors whose entries along an axis may be trained by a prefix only (nested ranks). Needs `expected`. */
  prefixAxes?: ReadonlyMap<string, number>;
}

export class RunningWeightedSum {
  private buffers: Map<string, WeightedSumBuffer> | undefined;
  private readonly prefixAxes: ReadonlyMap<string, number>;

  constructor(options: RunningWeightedSumOptions = {}) {
    this.prefixAxes = options.prefixAxes ?? new Map();
    if (options.expected) this.buffers = this.createBuffers(options.expected);
    else if (this.prefixAxes.size > 0) {
      throw new FedpeftError(
        'AGGREGATION_PREVIOUS_REQUIRED',
        'nested-rank sums need the full shapes up front (pass `expected`): a first client may send a prefix only',
      );
    }
  }

  get count(): number {
    return this.firstBuffer()?.count ?? 0;
  }

  get totalWeight(): number {
    return this.firstBuffer()?.totalWeight ?? 0;
  }

  /** Total weight that covered each index along a nested tensor's prefix axis. */
  coverage(name: string): Float64Array {
    const buffer = this.buffers?.get(name);
    if (!buffer)
      throw new FedpeftError('AGGREGATION_UNKNOWN_TENSOR', `no tensor named "${name}" in this sum`);
    return buffer.coverage();
  }

  /** Throws a `FedpeftError` (and changes nothing) if the update would be rejected by `add`. */
  check(weight: number, tensors: HostTensorMap, trainedExtents?: ReadonlyMap<string, number>): void {
    assertValidWeight(weight, 'update');
    const buffers = this.buffers ?? this.createBuffers(shapesOf(tensors));
    this.checkAgainst(buffers, weight, tensors, trainedExtents);
  }

  add(weight: number, tensors: HostTensorMap, trainedExtents?: ReadonlyMap<string, number>): void {
    assertValidWeight(weight, 'update');
    const buffers = this.buffers ?? this.createBuffers(shapesOf(tensors));
    this.checkAgainst(buffers, weight, tensors, trainedExtents);
    for (const [name, buffer] of buffers) {
      buffer.foldChecked(weight, tensors.get(name) as HostTensor, trainedExtents?.get(name));
    }
    this.buffers = buffers;
  }

  /** The weighted mean per tensor; entries nobody trained (nested ranks) take `fallback`'s values. */
  result(fallback?: HostTensorMap): HostTensorMap {
    if (!this.buffers || this.count === 0) throw new FedpeftError('AGGREGATION_EMPTY', 'no update was added');
    const out: HostTensorMap = new Map();
    for (const [name, buffer] of this.buffers) out.set(name, buffer.mean('coverage', fallback?.get(name)));
    return out;
  }

  private firstBuffer(): WeightedSumBuffer | undefined {
    return this.buffers?.values().next().value;
  }

  private createBuffers(expected: ReadonlyMap<string, readonly number[]>): Map<string, WeightedSumBuffer> {
    if (expected.size === 0) {
      throw new FedpeftError('AGGREGATION_NAME_MISMATCH', 'an update must contain at least one tensor');
    }
    const buffers = new Map<string, WeightedSumBuffer>();
    for (const [name, shape] of expected)
      buffers.set(name, new WeightedSumBuffer(shape, this.prefixAxes.get(name)));
    for (const name of this.prefixAxes.keys()) {
      if (!buffers.has(name)) {
        throw new FedpeftError(
          'AGGREGATION_UNKNOWN_TENSOR',
          `prefix axis given for unknown tensor "${name}"`,
        );
      }
    }
    return buffers;
  }

  private checkAgainst(
    buffers: Map<string, WeightedSumBuffer>,
    weight: number,
    tensors: HostTensorMap,
    trainedExtents: ReadonlyMap<string, number> | undefined,
  ): void {
    assertSameNames(buffers, tensors);
    for (const name of trainedExtents?.keys() ?? []) {
      if (!buffers.has(name)) {
        throw new FedpeftError(
          'AGGREGATION_UNKNOWN_TENSOR',
          `trained extent given for unknown tensor "${name}"`,
        );
      }
    }
    for (const [name, buffer] of buffers) {
      buffer.check(weight, tensors.get(name) as HostTensor, `tensor "${name}"`, trainedExtents?.get(name));
    }
  }
}

function shapesOf(tensors: HostTensorMap): Map<string, readonly number[]> {
  const shapes = new Map<string, readonly number[]>();
  for (const [name, t] of tensors) {
    assertWellFormed(t, `tensor "${name}"`);
    shapes.set(name, t.shape);
  }
  return shapes;
}

export function assertSameNames(
  expected: ReadonlyMap<string, unknown>,
  tensors: ReadonlyMap<string, unknown>,
): void {
  const missing = [...expected.keys()].filter((n) => !tensors.has(n));
  const extra = [...tensors.keys()].filter((n) => !expected.has(n));
  if (missing.length || extra.length) {
    const parts = [];
    if (missing.length) parts.push(`missing ${missing.map((n) => `"${n}"`).join(', ')}`);
    if (extra.length) parts.push(`unexpected ${extra.map((n) => `"${n}"`).join(', ')}`);
    throw new FedpeftError('AGGREGATION_NAME_MISMATCH', `update tensors do not match: ${parts.join('; ')}`);
  }
}
