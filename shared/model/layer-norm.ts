/**
 * LayerNorm over the last axis of a 2-D `[N, d]` tensor as ONE custom-gradient op.
 *
 * Built from stock ops (moments, sub, div, mul, add) every intermediate is saved for backward, and on wasm each
 * saved tensor is a physical copy (design notes §6). Here only `x̂` (`[N, d]`) and `1/σ` (`[N, 1]`) are saved,
 * and the backward pass is the closed form
 * `dx = (1/σ) (dx̂ - mean(dx̂) - x̂ mean(dx̂ ⊙ x̂))` with `dx̂ = dy ⊙ γ`.
 */
import { tf } from '../tensor/tf.ts';

type CustomGradArgs = (tf.Tensor | tf.GradSaveFunc)[];

export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor2D {
  const op = tf.customGrad((...args: CustomGradArgs) => {
    const [input, g, b, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const centered = tf.sub(input, tf.mean(input, 1, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), 1, true), eps));
    const xhat = tf.mul(centered, rstd);
    save([xhat, rstd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy, saved) => {
        const [sxhat, srstd, sg] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
        const dxhat = tf.mul(dy, sg);
        const dx = tf.mul(
          srstd,
          tf.sub(
            tf.sub(dxhat, tf.mean(dxhat, 1, true)),
            tf.mul(sxhat, tf.mean(tf.mul(dxhat, sxhat), 1, true)),
          ),
        );
        return [dx, tf.sum(tf.mul(dy, sxhat), 0), tf.sum(dy, 0)];
      },
    };
  });
  return op(x, gamma, beta) as tf.Tensor2D;
}
