/**
 * The SwiGLU activation of Llama-family MLPs: `silu(gate) ⊙ up`, with `silu(g) = g σ(g)`
 * (`down(silu(gate(x)) ⊙ up(x))` is the whole MLP).
 *
 * One custom-gradient op: it saves only its two inputs (`[N, hidden]` each), where the stock composition
 * would also save `σ(g)`, `g σ(g)` and the product's operands again (each a physical copy on wasm). Backward:
 * `d gate = dy ⊙ up ⊙ σ(g) (1 + g (1 - σ(g)))`, `d up = dy ⊙ g σ(g)`.
 */
import { tf } from '../tensor/tf.ts';

type CustomGradArgs = (tf.Tensor | tf.GradSaveFunc)[];

export function swiglu(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad((...args: CustomGradArgs) => {
    const [g, u, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    save([g, u]);
    return {
      value: tf.mul(tf.mul(g, tf.sigmoid(g)), u),
      gradFunc: (dy, saved) => {
        const [sg, su] = saved as [tf.Tensor2D, tf.Tensor2D];
        const s = tf.sigmoid(sg);
        const silu = tf.mul(sg, s);
        const dsilu = tf.mul(s, tf.add(1, tf.mul(sg, tf.sub(1, s))));
        return [tf.mul(tf.mul(dy, su), dsilu), tf.mul(dy, silu)];
      },
    };
  });
  return op(gate, up) as tf.Tensor2D;
}

/** Stock-op reference for tests. */
export function swigluUnfused(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(tf.mul(gate, tf.sigmoid(gate)), up);
}
