/**
 * An update (a `HostTensorMap`) viewed as ONE vector, which is what client-level DP and secure aggregation
 * reason about: clipping bounds the norm of the whole update, not of each tensor, and the masked vector is
 * the concatenation of all shared tensors. The layout (names, shapes, order) is agreed before a round, so
 * both sides can flatten and restore without sending it again.
 */
import type { HostTensor, HostTensorMap } from '../tensor/host-tensor.ts';
import { FedpeftError } from '../errors.ts';

export interface TensorSlot {
  name: string;
  shape: number[];
}

export type UpdateLayout = TensorSlot[];

export function layoutOf(update: HostTensorMap): UpdateLayout {
  return [...update].map(([name, t]) => ({ name, shape: [...t.shape] }));
}

export function layoutSize(layout: UpdateLayout): number {
  let n = 0;
  for (const slot of layout) n += slot.shape.reduce((a, b) => a * b, 1);
  return n;
}

/** Concatenate the tensors in layout order; throws if the update does not match the layout exactly. */
export function flattenUpdate(update: HostTensorMap, layout: UpdateLayout): Float64Array {
  if (update.size !== layout.length) {
    throw new FedpeftError(
      'UPDATE_LAYOUT_MISMATCH',
      `update has ${update.size} tensors, the round's layout has ${layout.length} (${layout.map((s) => s.name).join(', ')})`,
    );
  }
  const out = new Float64Array(layoutSize(layout));
  let offset = 0;
  for (const slot of layout) {
    const t = update.get(slot.name);
    if (!t) throw new FedpeftError('UPDATE_LAYOUT_MISMATCH', `update has no tensor named '${slot.name}'`);
    const size = slot.shape.reduce((a, b) => a * b, 1);
    if (
      t.shape.length !== slot.shape.length ||
      t.shape.some((d, i) => d !== slot.shape[i]) ||
      t.data.length !== size
    ) {
      throw new FedpeftError(
        'UPDATE_LAYOUT_MISMATCH',
        `tensor '${slot.name}' has shape ${JSON.stringify(t.shape)}, the layout says ${JSON.stringify(slot.shape)}`,
      );
    }
    out.set(t.data, offset);
    offset += size;
  }
  return out;
}

/** Split a flat vector back into named float32 tensors. */
export function unflattenUpdate(values: ArrayLike<number>, layout: UpdateLayout): HostTensorMap {
  const total = layoutSize(layout);
  if (values.length !== total) {
    throw new FedpeftError(
      'UPDATE_LAYOUT_MISMATCH',
      `vector has ${values.length} values, layout needs ${total}`,
    );
  }
  const out: HostTensorMap = new Map();
  let offset = 0;
  for (const slot of layout) {
    const size = slot.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = values[offset + i] as number;
    out.set(slot.name, { shape: [...slot.shape], data } satisfies HostTensor);
    offset += size;
  }
  return out;
}

/** L2 norm of the whole update, accumulated in float64. */
export function updateNorm(update: HostTensorMap): number {
  let sq = 0;
  for (const t of update.values()) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) sq += (d[i] as number) * (d[i] as number);
  }
  return Math.sqrt(sq);
}

/** A deep copy with every value multiplied by `factor`. */
export function scaleUpdate(update: HostTensorMap, factor: number): HostTensorMap {
  const out: HostTensorMap = new Map();
  for (const [name, t] of update) {
    const data = new Float32Array(t.data.length);
    for (let i = 0; i < data.length; i++) data[i] = (t.data[i] as number) * factor;
    out.set(name, { shape: [...t.shape], data });
  }
  return out;
}
