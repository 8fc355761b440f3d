/**
 * A model's base parameters as host tensors, both ways. Kept apart from checkpoint.ts (which reads and writes
 * files in Node) so code that also runs in a browser (the client trainer) can assign base weights.
 */
import { tf } from '../tensor/tf.ts';
import { FedpeftError } from '../errors.ts';
import { sameShape, toHost, type HostTensorMap } from '../tensor/host-tensor.ts';
import type { AdaptableModel } from './types.ts';

/** A model that can describe itself well enough to be rebuilt from a checkpoint. */
export interface CheckpointableModel extends AdaptableModel {
  readonly config: object;
  /** Drops derived caches (cached kernel transposes) after weights change in place. */
  invalidateCaches(): void;
}

/** Copies of every base parameter on the host, by their stable `parameters()` names. */
export function parametersToHost(model: AdaptableModel): HostTensorMap {
  const out: HostTensorMap = new Map();
  for (const [name, v] of model.parameters()) out.set(name, toHost(v));
  return out;
}

/**
 * Copy host tensors into the model's parameters. Strict: every parameter must be present with its exact
 * shape and no unknown names may appear (a checkpoint of another architecture fails loudly, not half-loaded).
 */
export function assignParameters(
  model: CheckpointableModel,
  tensors: HostTensorMap,
  source = 'checkpoint',
): void {
  const params = model.parameters();
  const missing = [...params.keys()].filter((n) => !tensors.has(n));
  const unknown = [...tensors.keys()].filter((n) => !params.has(n));
  const problems: string[] = [];
  if (missing.length) problems.push(`missing: ${missing.join(', ')}`);
  if (unknown.length) problems.push(`not in this model: ${unknown.join(', ')}`);
  for (const [name, v] of params) {
    const t = tensors.get(name);
    if (t && !sameShape(t.shape, v.shape)) {
      problems.push(
        `${name} has shape ${JSON.stringify(t.shape)}, the model expects ${JSON.stringify(v.shape)}`,
      );
    }
  }
  if (problems.length) {
    throw new FedpeftError(
      'CHECKPOINT_MISMATCH',
      `${source} does not fit the model:\n  ${problems.join('\n  ')}`,
    );
  }
  for (const [name, v] of params) {
    const t = tensors.get(name);
    if (!t) continue;
    tf.tidy(() => v.assign(tf.tensor(t.data, t.shape, 'float32')));
  }
  model.invalidateCaches();
}
