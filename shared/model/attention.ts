/**
 * Causal multi-head self-attention core: from the projected `q, k, v` (`[B*T, d]`) to the mixed values
 * `[B*T, d]` (before the output projection).
 *
 * Heads are folded into the batch axis (`[B*H, T, hd]`) and both products go through `batchMatMul` with the
 * transposes done explicitly: wasm's transposed matMul forms are off its fast path (design notes §6).
 */
import { tf } from '../tensor/tf.ts';
import { batchMatMul } from '../tensor/batched-matmul.ts';

/** Additive causal mask `[T, T]`: 0 where key position <= query position, a large negative number elsewhere. */
export function causalMask(t: number): tf.Tensor2D {
  const data = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) data[i * t + j] = -1e9;
  return tf.tensor2d(data, [t, t]);
}

export interface AttentionShape {
  batch: number;
  time: number;
  heads: number;
}

export function causalAttention(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  v: tf.Tensor2D,
  mask: tf.Tensor2D,
  { batch, time, heads }: AttentionShape,
): tf.Tensor2D {
  const d = q.shape[1];
  const hd = d / heads;
  // [B*T, d] -> [B, T, H, hd] -> [B, H, T, hd] -> [B*H, T, hd]
  const split = (x: tf.Tensor2D, perm: number[], shape: [number, number, number]): tf.Tensor3D =>
    tf.reshape(tf.transpose(tf.reshape(x, [batch, time, heads, hd]), perm), shape);
  // Scaling q (B*H*T*hd values) is cheaper than scaling the scores (B*H*T*T).
  const qh = split(tf.mul(q, 1 / Math.sqrt(hd)), [0, 2, 1, 3], [batch * heads, time, hd]);
  const khT = split(k, [0, 2, 3, 1], [batch * heads, hd, time]);
  const vh = split(v, [0, 2, 1, 3], [batch * heads, time, hd]);
  const probs = tf.softmax(tf.add(batchMatMul(qh, khT), mask)) as tf.Tensor3D;
  const mixed = batchMatMul(probs, vh);
  return tf.reshape(tf.transpose(tf.reshape(mixed, [batch, heads, time, hd]), [0, 2, 1, 3]), [
    batch * time,
    d,
  ]);
}
