/**
 * Global-norm gradient clipping: all gradients are scaled by `min(1, maxNorm / ‖g‖)` where `‖g‖` is the norm of
 * all of them concatenated, so their direction is kept. Computed on the device (no host read per step).
 */
import { tf } from '../tensor/tf.ts';

/** `sqrt(sum_i ‖g_i‖²)` as a scalar tensor (caller disposes). */
export function globalNorm(grads: readonly tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => {
    if (grads.length === 0) return tf.scalar(0);
    return tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
  });
}

/** New clipped gradients (caller disposes them; the inputs are left untouched). */
export function clipByGlobalNorm(grads: readonly tf.Tensor[], maxNorm: number): tf.Tensor[] {
  if (!(maxNorm > 0)) throw new Error(`clip norm must be > 0, got ${maxNorm}`);
  return tf.tidy(() => {
    const norm = globalNorm(grads);
    const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
    return grads.map((g) => tf.mul(g, scale));
  });
}
