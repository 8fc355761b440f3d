/**
 * A minimal SGD loop for adapter tests (the product trainer lives in shared/train/): one step computes the
 * loss gradient w.r.t. the adapter's trainable variables and applies `v -= lr * scale(v) * g`.
 */
import { tf } from '../../tensor/tf.ts';
import type { AdaptableModel, Batch } from '../../model/types.ts';
import type { Adapter } from '../types.ts';

export function sgdStep(model: AdaptableModel, adapter: Adapter, batch: Batch, lr: number): number {
  const vars = adapter.trainableVariables();
  const { value, grads } = tf.variableGrads(() => model.loss(batch), vars);
  for (const v of vars) {
    const g = grads[v.name];
    if (!g) continue;
    const next = tf.tidy(() => tf.sub(v, tf.mul(g, lr * adapter.learningRateScale(v))));
    v.assign(next);
    next.dispose();
  }
  const loss = value.dataSync()[0] as number;
  value.dispose();
  tf.dispose(grads);
  return loss;
}

export function train(
  model: AdaptableModel,
  adapter: Adapter,
  batch: Batch,
  steps: number,
  lr: number,
): number {
  let loss = NaN;
  for (let i = 0; i < steps; i++) loss = sgdStep(model, adapter, batch, lr);
  return loss;
}
