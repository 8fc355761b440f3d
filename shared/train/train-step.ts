/**
 * One local training step: loss, gradients for exactly the given variables, (FedProx term), optimizer update.
 * Everything it creates is disposed before it returns: the classic TF.js training bug is a few tensors leaked
 * per batch, which kills a long-running client.
 */
import { tf } from '../tensor/tf.ts';
import { FedpeftError } from '../errors.ts';
import type { AdaptableModel, Batch } from '../model/types.ts';
import type { AdamW } from './adamw.ts';
import type { ProximalTerm } from './fedprox.ts';

export interface TrainStepOptions {
  /** FedProx: add `mu (w - w_global)` to each trained variable's gradient. */
  proximal?: ProximalTerm;
}

/**
 * Returns the batch's data loss (nats per target, the proximal term excluded so it compares with evaluation).
 * A non-finite loss skips the update (the weights stay as they were) and is returned as is for the caller to
 * report.
 */
export function trainStep(
  model: AdaptableModel,
  batch: Batch,
  variables: readonly tf.Variable[],
  optimizer: AdamW,
  options: TrainStepOptions = {},
): number {
  checkTrainable(variables);
  const { value, grads } = tf.variableGrads(() => model.loss(batch), [...variables]);
  try {
    return update(value.dataSync()[0] as number, variables, grads, optimizer, options);
  } finally {
    value.dispose();
    tf.dispose(Object.values(grads).filter((g): g is tf.Tensor => g !== null));
  }
}

/**
 * `trainStep` with the loss read asynchronously. On tfjs-backend-webgpu a synchronous read goes through an
 * OffscreenCanvas copy that blocks the page and, on software adapters, returns zeros and loses the device;
 * browser clients train with this one. Same maths, same update, same disposal.
 */
export async function trainStepAsync(
  model: AdaptableModel,
  batch: Batch,
  variables: readonly tf.Variable[],
  optimizer: AdamW,
  options: TrainStepOptions = {},
): Promise<number> {
  checkTrainable(variables);
  const { value, grads } = tf.variableGrads(() => model.loss(batch), [...variables]);
  try {
    return update((await value.data())[0] as number, variables, grads, optimizer, options);
  } finally {
    value.dispose();
    tf.dispose(Object.values(grads).filter((g): g is tf.Tensor => g !== null));
  }
}

function checkTrainable(variables: readonly tf.Variable[]): void {
  if (variables.length === 0) throw new FedpeftError('NOTHING_TO_TRAIN', 'trainStep: no variables to train');
  const frozen = variables.filter((v) => !v.trainable).map((v) => v.name);
  if (frozen.length) {
    throw new FedpeftError(
      'NOTHING_TO_TRAIN',
      `trainStep: variables are not trainable: ${frozen.slice(0, 5).join(', ')}${frozen.length > 5 ? ', ...' : ''} ` +
        '(base weights need model.setBaseTrainable(true); adapter variables come from adapter.trainableVariables())',
    );
  }
}

/** Applies the gradients unless the loss is not finite; the caller disposes `grads`. */
function update(
  loss: number,
  variables: readonly tf.Variable[],
  grads: tf.NamedTensorMap,
  optimizer: AdamW,
  options: TrainStepOptions,
): number {
  if (!Number.isFinite(loss)) return loss;
  const pairs: [tf.Variable, tf.Tensor][] = [];
  const extra: tf.Tensor[] = [];
  for (const v of variables) {
    const g = grads[v.name];
    if (!g) continue; // not on the path from this batch's loss (e.g. an unused head)
    const prox = options.proximal?.gradient(v) ?? null;
    if (prox) {
      const total = tf.add(g, prox);
      prox.dispose();
      extra.push(total);
      pairs.push([v, total]);
    } else {
      pairs.push([v, g]);
    }
  }
  optimizer.applyGradients(pairs);
  tf.dispose(extra);
  return loss;
}
