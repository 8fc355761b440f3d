/**
 * A tensor on the host (a Float32Array with a shape), independent of any tfjs backend. The coordinator,
 * the wire codec, aggregation and the privacy code work on these: a coordinator aggregating thousands of
 * updates needs neither a tfjs backend nor its memory manager, and a browser client can decode an aggregate
 * before it touches the GPU.
 */
import { tf } from './tf.ts';

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** Named host tensors, in a stable (insertion) order. */
export type HostTensorMap = Map<string, HostTensor>;

export function hostTensorSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function hostTensor(shape: number[], data?: Float32Array): HostTensor {
  const size = hostTensorSize(shape);
  if (data && data.length !== size) {
    throw new Error(
      `host tensor data has ${data.length} values, shape ${JSON.stringify(shape)} needs ${size}`,
    );
  }
  return { shape: [...shape], data: data ?? new Float32Array(size) };
}

/** Copy a tfjs tensor to the host (synchronous read; use in tests, the wire codec and checkpoints). */
export function toHost(t: tf.Tensor): HostTensor {
  return { shape: [...t.shape], data: t.dataSync<'float32'>().slice() };
}

/** `toHost` with an asynchronous read (browser GPU backends, where synchronous reads block or fail). */
export async function toHostAsync(t: tf.Tensor): Promise<HostTensor> {
  return { shape: [...t.shape], data: (await t.data<'float32'>()).slice() };
}

export function toHostMap(tensors: Map<string, tf.Tensor>): HostTensorMap {
  const out: HostTensorMap = new Map();
  for (const [name, t] of tensors) out.set(name, toHost(t));
  return out;
}

/** A new tfjs tensor holding a copy of the host data. The caller owns it. */
export function fromHost(h: HostTensor): tf.Tensor {
  return tf.tensor(h.data, h.shape, 'float32');
}

export function fromHostMap(tensors: HostTensorMap): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const [name, h] of tensors) out.set(name, fromHost(h));
  return out;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
