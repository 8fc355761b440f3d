/** Small helpers shared by the adapter tests. */
import type { tf } from '../../tensor/tf.ts';
import { Rng } from '../../tensor/rng.ts';
import type { AdaptableModel } from '../../model/types.ts';
import type { Adapter } from '../types.ts';
import type { FixtureModel } from './fixture-model.ts';

/** Host copy of the fixture's logits. */
export function logitsOf(model: FixtureModel, inputs: tf.Tensor): Float32Array {
  const t = model.logits(inputs as tf.Tensor2D);
  const out = t.dataSync<'float32'>().slice();
  t.dispose();
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}

export function maxAbs(a: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] as number));
  return d;
}

/** Host copies of every Linear kernel by layer name. */
export function kernelsOf(model: AdaptableModel): Map<string, Float32Array> {
  return new Map(model.linears().map((l) => [l.name, l.kernel.dataSync<'float32'>().slice()]));
}

/** Host copies of a tensor map. */
export function hostCopy(map: Map<string, tf.Tensor>): Map<string, { shape: number[]; data: Float32Array }> {
  return new Map(
    [...map].map(([k, t]) => [k, { shape: [...t.shape], data: t.dataSync<'float32'>().slice() }]),
  );
}

/** Give every trainable variable seeded non-zero values (so gradients of every factor are non-trivial). */
export function randomizeTrainables(adapter: Adapter, seed: number, std = 0.3): void {
  const rng = new Rng(seed);
  for (const v of adapter.trainableVariables()) {
    const t = rng.fork(v.name.replace(/#\d+$/, '')).normalTensor(v.shape, std);
    v.assign(t);
    t.dispose();
  }
}
