/**
 * Batched matMul `[b, m, k] @ [b, k, n] -> [b, m, n]` for attention.
 * PROVISIONAL: plain tf.matMul until the wasm fast path lands (issue 3, item 4).
 */
import { tf } from './tf.ts';

export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return tf.matMul(a, b);
}
