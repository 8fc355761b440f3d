/**
 * Rotary position embeddings in Hugging Face's rotate-half layout (Llama, Qwen2, SmolLM2, Mistral):
 * for a head vector `x` of `hd` dimensions at position `t`,
 * `rope(x) = x ⊙ cos(t θ) + rotate_half(x) ⊙ sin(t θ)`, `rotate_half([x1, x2]) = [-x2, x1]`,
 * with `θ_i = rope_theta^(-2i / hd)` for `i < hd/2`, repeated for both halves (`cat(freqs, freqs)`).
 * This pairs dimension `i` with `i + hd/2` — not the interleaved pairs of the original paper — which is what
 * checkpoints trained with transformers expect.
 *
 * The op is a rotation, so its backward pass is the inverse rotation of `dy` (the same formula with `-sin`):
 * nothing but the model-owned cos/sin tables is needed, and nothing is saved.
 */
import { tf } from '../tensor/tf.ts';

type CustomGradArgs = (tf.Tensor | tf.GradSaveFunc)[];

/** cos and sin tables `[T, 1, hd]` (broadcast over heads). Owned by the caller (the model keeps them). */
export interface RotaryTables {
  cos: tf.Tensor3D;
  sin: tf.Tensor3D;
}

/** Tables for positions `0..time-1`; angles in float64 on the host, like HF's float32 `inv_freq ⊗ t` up to rounding. */
export function rotaryTables(time: number, headDim: number, theta: number): RotaryTables {
  if (headDim % 2 !== 0) throw new Error(`rotary: head dimension ${headDim} must be even`);
  const half = headDim / 2;
  const cos = new Float32Array(time * headDim);
  const sin = new Float32Array(time * headDim);
  for (let t = 0; t < time; t++) {
    for (let i = 0; i < half; i++) {
      const invFreq = 1 / theta ** ((2 * i) / headDim);
      const angle = t * Math.fround(invFreq);
      for (const j of [i, i + half]) {
        cos[t * headDim + j] = Math.cos(angle);
        sin[t * headDim + j] = Math.sin(angle);
      }
    }
  }
  return {
    cos: tf.tensor3d(cos, [time, 1, headDim]),
    sin: tf.tensor3d(sin, [time, 1, headDim]),
  };
}

/** `[x1, x2] -> [-x2, x1]` on the last axis of a `[B, T, H, hd]` tensor. */
function rotateHalf(x: tf.Tensor4D): tf.Tensor4D {
  const half = x.shape[3] / 2;
  const [x1, x2] = tf.split(x, [half, half], 3);
  return tf.concat([tf.neg(x2 as tf.Tensor4D), x1 as tf.Tensor4D], 3);
}

/** Inverse of `rotateHalf`: `[y1, y2] -> [y2, -y1]`. */
function rotateHalfInverse(y: tf.Tensor4D): tf.Tensor4D {
  const half = y.shape[3] / 2;
  const [y1, y2] = tf.split(y, [half, half], 3);
  return tf.concat([y2 as tf.Tensor4D, tf.neg(y1 as tf.Tensor4D)], 3);
}

/** Applies RoPE to `x` `[B, T, H, hd]`; `tables` must cover exactly `T` positions. */
export function applyRotary(x: tf.Tensor4D, tables: RotaryTables): tf.Tensor4D {
  const { cos, sin } = tables;
  if (cos.shape[0] !== x.shape[1] || cos.shape[2] !== x.shape[3]) {
    throw new Error(
      `rotary: tables ${JSON.stringify(cos.shape)} do not fit input ${JSON.stringify(x.shape)}`,
    );
  }
  const op = tf.customGrad((...args: CustomGradArgs) => {
    const input = args[0] as tf.Tensor4D;
    return {
      value: tf.add(tf.mul(input, cos), tf.mul(rotateHalf(input), sin)),
      // y = x c + R(x) s  =>  dx = dy c + R^T(dy s), and R^T = R^{-1} for a rotation.
      gradFunc: (dy) => tf.add(tf.mul(dy, cos), rotateHalfInverse(tf.mul(dy as tf.Tensor4D, sin))),
    };
  });
  return op(x) as tf.Tensor4D;
}

/** Stock-op reference (differentiated by tfjs) for tests. */
export function applyRotaryUnfused(x: tf.Tensor4D, tables: RotaryTables): tf.Tensor4D {
  return tf.add(tf.mul(x, tables.cos), tf.mul(rotateHalf(x), tables.sin));
}
