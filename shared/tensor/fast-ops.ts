/**
 * Training ops with hand-written gradients that stay on wasm's fast path.
 *
 * tfjs-backend-wasm 4.22 runs `matMul` with `transposeA`/`transposeB` through a slow generic loop (1-2 GFLOP/s
 * instead of ~30), and the built-in matMul gradient uses exactly those forms, so backprop spends most of its
 * time there. These ops transpose explicitly (a cheap copy) and call the plain, untransposed matMul. For frozen
 * weights `K^T` is computed once by the caller and no gradient is produced for `K` at all. Results are
 * identical to the built-in gradients (same products, different association of memory layout only).
 *
 * The embedding gradient is `oneHot(ids)^T @ dy` because wasm has no `UnsortedSegmentSum` (which the stock
 * `gather` gradient needs). `tf.oneHot(..., 'float32')` returns wrong values on wasm, so the one-hot is built
 * as int32 and cast.
 */
import { tf } from './tf.ts';

/** `a @ b` for 2-D tensors, with gradients `dA = dY @ B^T`, `dB = A^T @ dY` built from plain matMuls. */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return matMulGrad(a, b) as tf.Tensor2D;
}

// customGrad's inputs are typed as a union of tensors and the save function; unpack them once here.
type CustomGradArgs = (tf.Tensor | tf.GradSaveFunc)[];

const matMulGrad: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor = tf.customGrad((...args: CustomGradArgs) => {
  const [A, B, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([A, B]);
  return {
    value: tf.matMul(A, B),
    gradFunc: (dy, saved) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      const g = dy as tf.Tensor2D;
      return [tf.matMul(g, tf.transpose(sb)), tf.matMul(tf.transpose(sa), g)];
    },
  };
});

/**
 * A frozen kernel and its precomputed transpose. Holding both costs one extra copy of the weight but turns
 * every backward pass into one plain matMul.
 */
export interface FrozenKernel {
  readonly kernel: tf.Tensor2D;
  readonly kernelT: tf.Tensor2D;
}

export function freezeKernel(kernel: tf.Tensor2D): FrozenKernel {
  return { kernel, kernelT: tf.keep(tf.transpose(kernel)) };
}

/**
 * `x @ K (+ bias)` for a frozen `K`: the gradient flows to `x` only (`dx = dy @ K^T`), never to `K` or `bias`.
 * `x` is 2-D `[N, in]`.
 */
export function frozenLinear(x: tf.Tensor2D, frozen: FrozenKernel, bias?: tf.Tensor1D): tf.Tensor2D {
  const { kernel, kernelT } = frozen;
  const op = tf.customGrad((...args: CustomGradArgs) => {
    const input = args[0] as tf.Tensor2D;
    return {
      value: bias ? tf.add(tf.matMul(input, kernel), bias) : tf.matMul(input, kernel),
      gradFunc: (dy) => tf.matMul(dy, kernelT),
    };
  });
  return op(x) as tf.Tensor2D;
}

/**
 * Row lookup `table[ids]` with the gradient `oneHot(ids)^T @ dy` for the table. `ids` is int32 `[N]`,
 * `table` is `[V, d]`; the result is `[N, d]`. No gradient flows to `ids`.
 */
export function embedding(ids: tf.Tensor1D, table: tf.Tensor2D): tf.Tensor2D {
  const vocab = table.shape[0];
  const op = tf.customGrad((...args: CustomGradArgs) => {
    const [t, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    save([ids]);
    return {
      value: tf.gather(t, ids),
      gradFunc: (dy, saved) => {
        const [savedIds] = saved as [tf.Tensor1D];
        const oneHot = tf.cast(tf.oneHot(savedIds, vocab, 1, 0, 'int32'), 'float32') as tf.Tensor2D;
        return tf.matMul(tf.transpose(oneHot), dy);
      },
    };
  });
  return op(table);
}

/** `x @ W + b` for a trainable dense layer (full fine-tuning, pretraining), on the fast matMul. */
export function linear(x: tf.Tensor2D, kernel: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  const y = matMul(x, kernel);
  return bias ? tf.add(y, bias) : y;
}
