/**
 * Causal grouped-query self-attention with rotary positions (Llama, Qwen2): from the projected
 * `q` `[B*T, H*hd]`, `k`, `v` `[B*T, Hkv*hd]` to the mixed values `[B*T, H*hd]` (before the output projection).
 *
 * RoPE is applied to q and k per head; each key/value head serves `H / Hkv` consecutive query heads (HF's
 * `repeat_kv`: query head `h` reads kv head `floor(h / (H/Hkv))`), done with a broadcast whose gradient is the
 * sum over the group. Heads are folded into the batch axis and both products use `batchMatMul` with explicit
 * transposes, as in `attention.ts` (wasm's transposed matMul forms are off its fast path, design notes §6).
 */
import { tf } from '../tensor/tf.ts';
import { batchMatMul } from '../tensor/batched-matmul.ts';
import { applyRotary, type RotaryTables } from './rotary.ts';

export interface GroupedQueryShape {
  batch: number;
  time: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

export function groupedQueryAttention(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  v: tf.Tensor2D,
  mask: tf.Tensor2D,
  rotary: RotaryTables,
  { batch, time, heads, kvHeads, headDim }: GroupedQueryShape,
): tf.Tensor2D {
  const group = heads / kvHeads;
  // [B*T, H*hd] -> [B, T, H, hd] (RoPE) -> [B, H, T, hd] -> [B*H, T, hd]; q pre-scaled (cheaper than scores).
  const q4 = applyRotary(tf.reshape(q, [batch, time, heads, headDim]), rotary);
  const qh = tf.reshape<tf.Rank.R3>(tf.transpose(tf.mul(q4, 1 / Math.sqrt(headDim)), [0, 2, 1, 3]), [
    batch * heads,
    time,
    headDim,
  ]);
  const k4 = applyRotary(tf.reshape(k, [batch, time, kvHeads, headDim]), rotary);
  // kv heads [B, Hkv, a, b] -> [B*Hkv, group, a*b] -> [B*H, a, b] (consecutive query heads share one).
  const repeat = (x: tf.Tensor4D, a: number, b: number): tf.Tensor3D => {
    if (group === 1) return tf.reshape(x, [batch * heads, a, b]);
    // Rank 3: tfjs has no Tile gradient above rank 4.
    const flat = tf.reshape(x, [batch * kvHeads, 1, a * b]);
    const expanded = tf.broadcastTo(flat, [batch * kvHeads, group, a * b]);
    return tf.reshape(expanded, [batch * heads, a, b]);
  };
  const khT = repeat(tf.transpose(k4, [0, 2, 3, 1]), headDim, time);
  const vh = repeat(
    tf.transpose(tf.reshape(v, [batch, time, kvHeads, headDim]), [0, 2, 1, 3]),
    time,
    headDim,
  );
  const probs = tf.softmax(tf.add(batchMatMul(qh, khT), mask)) as tf.Tensor3D;
  const mixed = batchMatMul(probs, vh);
  return tf.reshape(tf.transpose(tf.reshape(mixed, [batch, heads, time, headDim]), [0, 2, 1, 3]), [
    batch * time,
    heads * headDim,
  ]);
}
