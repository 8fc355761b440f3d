/**
 * Mean softmax cross-entropy (nats) of `[N, C]` logits against int32 class ids `[N]`, as one custom-gradient op.
 *
 * Avoids the two wasm traps on this path (design notes §6): the stock `gather` gradient needs
 * `UnsortedSegmentSum` (absent on wasm) and `tf.oneHot(..., 'float32')` is wrong there. The forward picks the
 * target logits with an int32 one-hot cast to float; the backward is the closed form `(softmax - onehot) / N`.
 */
import { tf } from '../tensor/tf.ts';

type CustomGradArgs = (tf.Tensor | tf.GradSaveFunc)[];

export function softmaxCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  const [n, classes] = logits.shape;
  if (targets.shape[0] !== n) {
    throw new Error(`cross-entropy: ${n} rows of logits but ${targets.shape[0]} targets`);
  }
  if (targets.dtype !== 'int32')
    throw new Error(`cross-entropy: targets must be int32, got ${targets.dtype}`);
  const op = tf.customGrad((...args: CustomGradArgs) => {
    const [z, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const oneHot = tf.cast(tf.oneHot(targets, classes, 1, 0, 'int32'), 'float32');
    const logSoftmax = tf.logSoftmax(z);
    const picked = tf.sum(tf.mul(logSoftmax, oneHot), 1);
    save([logSoftmax, oneHot]);
    return {
      value: tf.neg(tf.mean(picked)),
      gradFunc: (dy, saved) => {
        const [sLogSoftmax, sOneHot] = saved as [tf.Tensor2D, tf.Tensor2D];
        return tf.mul(tf.sub(tf.exp(sLogSoftmax), sOneHot), tf.div(dy, n));
      },
    };
  });
  return op(logits) as tf.Scalar;
}
