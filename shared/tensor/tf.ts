/**
 * The single import point for TensorFlow.js in product code.
 *
 * Product code imports `tf` from here, never from `@tensorflow/tfjs` directly: the full `@tensorflow/tfjs`
 * bundle drags in the WebGL backend and tfjs-layers, prints a "install tfjs-node" banner in Node, and makes it
 * easy to end up with two copies of tfjs-core. The cpu backend is always registered so there is a last resort.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core's Node build ships no gradient registrations (its ESM `register_all_gradients` cannot be imported
// by Node: extensionless specifiers). The union package's Node build registers every gradient into the global
// (shared) registry as a side effect, so it is imported for that alone; ops still come from tfjs-core.
import '@tensorflow/tfjs';

// PROD silences tfjs's console banners (e.g. "install tfjs-node" on the cpu backend's first write): fedpeft
// reports its own backend choice and the reason for it (`fedpeft doctor`).
tf.env().set('PROD', true);

export { tf };
export type Tensor = tf.Tensor;
export type Tensor1D = tf.Tensor1D;
export type Tensor2D = tf.Tensor2D;
export type Variable = tf.Variable;
