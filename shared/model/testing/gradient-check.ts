/**
 * Test helpers for custom-gradient ops: a central finite-difference check of an op's analytic gradients
 * (float64 on the host is not available in tfjs, so step and tolerance are sized for float32), and a
 * comparison of a fused op against its stock-op composition in value and in every gradient.
 */
import { tf } from '../../tensor/tf.ts';

type Op = (...inputs: tf.Tensor[]) => tf.Tensor;

/** Largest |analytic - numeric| / max(1, |numeric|) over `probes` coordinates of every input. */
export function finiteDifferenceError(
  op: Op,
  inputs: tf.Tensor[],
  weights: tf.Tensor,
  probes = 6,
  h = 1e-2,
): number {
  const objective = (...xs: tf.Tensor[]) => tf.sum(tf.mul(op(...xs), weights));
  const analytic = tf.grads(objective)(inputs);
  let worst = 0;
  inputs.forEach((input, which) => {
    const base = input.dataSync<'float32'>().slice();
    const grad = analytic[which]!.dataSync();
    for (let p = 0; p < probes; p++) {
      const at = Math.floor(((p + 0.5) / probes) * base.length);
      const value = (delta: number) => {
        const shifted = base.slice();
        shifted[at] = shifted[at]! + delta;
        return tf.tidy(() => {
          const xs = inputs.map((x, i) => (i === which ? tf.tensor(shifted, x.shape) : x));
          return objective(...xs).dataSync()[0]!;
        });
      };
      const numeric = (value(h) - value(-h)) / (2 * h);
      worst = Math.max(worst, Math.abs(grad[at]! - numeric) / Math.max(1, Math.abs(numeric)));
    }
  });
  tf.dispose(analytic);
  return worst;
}

/** Largest absolute difference of two ops in value and in every input gradient (weighted-sum objective). */
export function fusedVsStockDifference(
  fused: Op,
  stock: Op,
  inputs: tf.Tensor[],
  weights: tf.Tensor,
): number {
  const grads = (op: Op) => tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(op(...xs), weights)))(inputs);
  const a = grads(fused);
  const b = grads(stock);
  let worst = tf.tidy(() => tf.max(tf.abs(tf.sub(fused(...inputs), stock(...inputs)))).dataSync()[0]!);
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(
      worst,
      tf.tidy(() => tf.max(tf.abs(tf.sub(a[i]!, b[i]!))).dataSync()[0]!),
    );
  }
  tf.dispose([...a, ...b]);
  return worst;
}
