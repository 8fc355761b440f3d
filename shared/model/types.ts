/**
 * What every model offers to adapters, trainers and the wire. Kept small on purpose: adapters only need the
 * named Linear modules; trainers only need a loss.
 */
import type { tf } from '../tensor/tf.ts';
import type { Linear } from './linear.ts';

/** A training/evaluation batch. `inputs`/`targets` are owned by the caller (dispose after use). */
export interface Batch {
  /** GPT: int32 `[B, T]` token ids. MLP classifier: float32 `[B, F]` features. */
  inputs: tf.Tensor;
  /** GPT: int32 `[B, T]` next-token ids. MLP classifier: int32 `[B]` class ids. */
  targets: tf.Tensor;
}

export interface AdaptableModel {
  readonly kind: string;
  /** Every adaptable layer, in a stable order (`layers.0.attn.q`, ...). */
  linears(): Linear[];
  /** Every base parameter by a stable name (embeddings, norms, and each Linear's kernel/bias). */
  parameters(): Map<string, tf.Variable>;
  /** Full fine-tuning / pretraining switch: makes every base parameter trainable (Linears use the trainable path). */
  setBaseTrainable(trainable: boolean): void;
  /** Mean cross-entropy (nats per target) of the batch, differentiable w.r.t. trainable variables. */
  loss(batch: Batch): tf.Scalar;
  /** Frees every tensor the model owns. */
  dispose(): void;
}
