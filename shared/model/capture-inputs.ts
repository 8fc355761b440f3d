/**
 * Record what each targeted Linear sees: run the model's forward pass over calibration batches with temporary
 * hooks that copy every targeted layer's input `[N, in]`, then put the original hooks back.
 *
 * Pruning (Wanda's `||X_i||`), layer-redundancy measures (CKA) and reconstruction errors all need these
 * activations, and models expose only `loss(batch)` and their Linears, so hooking the Linears is the one way
 * that works for every model. A temporary hook forwards to the hook that was there before (an attached
 * adapter's), so the recorded inputs are those of the model as it currently computes, adapter included, and
 * the adapter's own hook object is restored (adapters recognise their hook by identity when detaching).
 */
import { tf } from '../tensor/tf.ts';
import { FedpeftError } from '../errors.ts';
import type { Linear, LinearHook } from './linear.ts';
import type { AdaptableModel, Batch } from './types.ts';

/**
 * Each named Linear's inputs over all `batches`, rows concatenated in batch order: `[sum N_b, in]`. Layers
 * default to every Linear of the model. The caller owns the returned tensors; the batches are not disposed.
 */
export function captureInputs(
  model: Pick<AdaptableModel, 'linears' | 'loss'>,
  batches: readonly Batch[],
  layers?: readonly string[],
): Map<string, tf.Tensor2D> {
  if (batches.length === 0) {
    throw new FedpeftError('NO_CALIBRATION_DATA', 'captureInputs needs at least one calibration batch');
  }
  const all = model.linears();
  const byName = new Map(all.map((l) => [l.name, l]));
  const names = layers ?? all.map((l) => l.name);
  const unknown = names.filter((n) => !byName.has(n));
  if (unknown.length > 0) {
    throw new FedpeftError(
      'UNKNOWN_LAYER',
      `cannot capture inputs of unknown layer(s) ${unknown.join(', ')}; the model has: ${[...byName.keys()].join(', ')}`,
    );
  }
  const targets = [...new Set(names)].map((n) => byName.get(n) as Linear);
  const recorded = new Map<string, tf.Tensor2D[]>(targets.map((l) => [l.name, []]));
  const saved = new Map<Linear, LinearHook | null>(targets.map((l) => [l, l.hook]));
  for (const linear of targets) {
    const previous = saved.get(linear) ?? null;
    const parts = recorded.get(linear.name) as tf.Tensor2D[];
    linear.hook = {
      forward: (x, base) => {
        // A clone, kept: q, k and v receive the same tensor, and each list must own what it disposes.
        parts.push(tf.keep(tf.clone(x)));
        return previous ? previous.forward(x, base) : base.baseForward(x);
      },
    };
  }
  try {
    for (const batch of batches) tf.tidy(() => void model.loss(batch));
  } catch (err) {
    for (const parts of recorded.values()) tf.dispose(parts);
    throw err;
  } finally {
    for (const [linear, hook] of saved) linear.hook = hook;
  }
  const out = new Map<string, tf.Tensor2D>();
  for (const [name, parts] of recorded) {
    if (parts.length === 0) {
      for (const p of recorded.values()) tf.dispose(p);
      tf.dispose([...out.values()]);
      throw new FedpeftError(
        'LAYER_NOT_USED',
        `layer ${name} was not called during the forward pass, so it has no calibration inputs`,
      );
    }
    out.set(name, parts.length === 1 ? (parts[0] as tf.Tensor2D) : tf.concat(parts, 0));
    if (parts.length > 1) tf.dispose(parts);
    parts.length = 0;
  }
  return out;
}
