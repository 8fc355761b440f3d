/**
 * GELU, tanh approximation (`gelu_new` in GPT-2): `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
 *
 * One custom-gradient op so the backward pass saves only `x` and `tanh(u)` instead of every intermediate of
 * the polynomial (each a physical copy on wasm). GPT-2 checkpoints need exactly this approximation to
 * reproduce their numerics.
 */
import { tf } from '../tensor/tf.ts';

type CustomGradArgs = (tf.Tensor | tf.GradSaveFunc)[];

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const CUBIC = 0.044715;

export function gelu<T extends tf.Tensor>(x: T): T {
  const op = tf.customGrad((...args: CustomGradArgs) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const t = tf.tanh(tf.mul(SQRT_2_OVER_PI, tf.add(input, tf.mul(CUBIC, tf.pow(input, 3)))));
    save([input, t]);
    return {
      value: tf.mul(tf.mul(0.5, input), tf.add(1, t)),
      gradFunc: (dy, saved) => {
        const [sx, st] = saved as [tf.Tensor, tf.Tensor];
        // d/dx = 0.5 (1 + t) + 0.5 x (1 - t²) √(2/π) (1 + 3·0.044715 x²)
        const dudx = tf.mul(SQRT_2_OVER_PI, tf.add(1, tf.mul(3 * CUBIC, tf.square(sx))));
        const local = tf.add(
          tf.mul(0.5, tf.add(1, st)),
          tf.mul(tf.mul(tf.mul(0.5, sx), tf.sub(1, tf.square(st))), dudx),
        );
        return tf.mul(dy, local);
      },
    };
  });
  return op(x) as T;
}
