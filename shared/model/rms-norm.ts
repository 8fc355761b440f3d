/**
 * RMSNorm (Llama, Qwen2, SmolLM2) over the last axis of a 2-D `[N, d]` tensor as ONE custom-gradient op:
 * `y = γ ⊙ x / sqrt(mean(x²) + eps)` — no centring, no bias.
 *
 * As with `layer-norm.ts`, stock ops would save every intermediate (each a physical copy on wasm, design notes
 * §6); here only `x̂ = x / rms` (`[N, d]`), `1/rms` (`[N, 1]`) and `γ` are saved, and the backward pass is the
 * closed form `dx = (1/rms) (dx̂ - x̂ mean(dx̂ ⊙ x̂))` with `dx̂ = dy ⊙ γ`, `dγ = Σ_rows dy ⊙ x̂`.
 */
import { tf } from '../tensor/tf.ts';

type CustomGradArgs = (tf.Tensor | tf.GradSaveFunc)[];

export function rmsNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, eps: number): tf.Tensor2D {
  const op = tf.customGrad((...args: CustomGradArgs) => {
    const [input, g, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    const rinv = tf.rsqrt(tf.add(tf.mean(tf.square(input), 1, true), eps));
    const xhat = tf.mul(input, rinv);
    save([xhat, rinv, g]);
    return {
      value: tf.mul(xhat, g),
      gradFunc: (dy, saved) => {
        const [sxhat, srinv, sg] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
        const dxhat = tf.mul(dy, sg);
        const dx = tf.mul(srinv, tf.sub(dxhat, tf.mul(sxhat, tf.mean(tf.mul(dxhat, sxhat), 1, true))));
        return [dx, tf.sum(tf.mul(dy, sxhat), 0)];
      },
    };
  });
  return op(x, gamma) as tf.Tensor2D;
}

/** The textbook composition of stock ops (differentiated by tfjs): the reference the fused op is tested against. */
export function rmsNormUnfused(x: tf.Tensor2D, gamma: tf.Tensor1D, eps: number): tf.Tensor2D {
  return tf.mul(tf.div(x, tf.sqrt(tf.add(tf.mean(tf.square(x), 1, true), eps))), gamma);
}
