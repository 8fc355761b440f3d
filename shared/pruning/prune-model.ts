/**
 * Prune a model's Linear kernels in place with Wanda, from calibration activations the caller supplies.
 *
 * Capturing each Linear's input during a forward pass is the model's business; this file only needs, per
 * targeted layer, its input activations `[N, in]` over the calibration tokens. Besides the masks (LoSA's private
 * `M_l`) it reports each layer's reconstruction error `||X K_dense - X K_sparse||_F`, which is what
 * `allocateRanks` consumes to give damaged layers more adapter rank.
 *
 * Every name is validated before any kernel is touched, so a typo never leaves a model half-pruned.
 */
import { tf } from '../tensor/tf.ts';
import { FedpeftError } from '../errors.ts';
import type { Linear } from '../model/linear.ts';
import type { AdaptableModel } from '../model/types.ts';
import { inputFeatureNorms, parseNmPattern, wandaPrune, type NmPattern, type WandaPattern } from './wanda.ts';

/**
 * Calibration inputs per Linear. A function's result is owned by `pruneModel` (disposed after use), so it can
 * compute activations lazily, one layer at a time; a map's tensors stay owned by the caller.
 */
export type ActivationSource = ((linear: Linear) => tf.Tensor2D) | ReadonlyMap<string, tf.Tensor2D>;

export type PruneModelOptions =
  | {
      activations: ActivationSource;
      mode?: 'unstructured';
      /** Layer name -> fraction of its weights to remove, in [0, 1). Layers not listed are left alone. */
      sparsity: ReadonlyMap<string, number> | Readonly<Record<string, number>>;
    }
  | {
      activations: ActivationSource;
      /** N:M pattern, e.g. "2:4" or `{ n: 2, m: 4 }`: at most N nonzeros in every M consecutive inputs. */
      mode: string | NmPattern;
      /** The layers to prune. */
      layers: readonly string[];
    };

export interface PruneModelResult {
  /** Layer name -> float32 0/1 mask `[in, out]` (1 = kept). The caller owns the tensors. */
  masks: Map<string, tf.Tensor2D>;
  /** Layer name -> achieved fraction of pruned weights. */
  sparsity: Map<string, number>;
  /** Layer name -> `||X K_dense - X K_sparse||_F` over the calibration activations. */
  reconstructionError: Map<string, number>;
}

export function pruneModel(
  model: Pick<AdaptableModel, 'linears'>,
  options: PruneModelOptions,
): PruneModelResult {
  const byName = new Map(model.linears().map((l) => [l.name, l]));
  const plan = planLayers(options);
  const unknown = [...plan.keys()].filter((name) => !byName.has(name));
  if (unknown.length > 0) {
    throw new FedpeftError(
      'UNKNOWN_LAYER',
      `cannot prune unknown layer(s) ${unknown.join(', ')}; the model has: ${[...byName.keys()].join(', ')}`,
    );
  }
  const { activations } = options;
  if (!(typeof activations === 'function')) {
    const missing = [...plan.keys()].filter((name) => !activations.has(name));
    if (missing.length > 0) {
      throw new FedpeftError(
        'MISSING_ACTIVATIONS',
        `no calibration activations for layer(s) ${missing.join(', ')}`,
      );
    }
  }

  const result: PruneModelResult = { masks: new Map(), sparsity: new Map(), reconstructionError: new Map() };
  try {
    for (const [name, pattern] of plan) {
      const linear = byName.get(name) as Linear;
      const owned = typeof activations === 'function';
      const x = owned ? activations(linear) : (activations.get(name) as tf.Tensor2D);
      try {
        if (x.rank !== 2 || x.shape[1] !== linear.inDim) {
          throw new FedpeftError(
            'INVALID_SHAPE',
            `calibration activations for ${name} must be [tokens, ${linear.inDim}], got [${x.shape.join(', ')}]`,
          );
        }
        const pruned = wandaPrune(linear.kernel, inputFeatureNorms(x), pattern);
        const error = tf.tidy(
          () => tf.norm(tf.matMul(x, tf.sub(linear.kernel, pruned.kernel))).dataSync()[0] ?? 0,
        );
        linear.assignKernel(pruned.kernel);
        pruned.kernel.dispose();
        result.masks.set(name, pruned.mask);
        result.sparsity.set(name, pruned.sparsity);
        result.reconstructionError.set(name, error);
      } finally {
        if (owned) x.dispose();
      }
    }
  } catch (err) {
    // Masks already produced would otherwise leak; the kernels pruned so far stay pruned (and valid).
    for (const mask of result.masks.values()) mask.dispose();
    throw err;
  }
  return result;
}

function planLayers(options: PruneModelOptions): Map<string, WandaPattern> {
  const plan = new Map<string, WandaPattern>();
  if ('layers' in options) {
    const nm = parseNmPattern(options.mode);
    for (const name of options.layers) plan.set(name, { kind: 'n:m', ...nm });
    return plan;
  }
  const entries =
    options.sparsity instanceof Map
      ? [...(options.sparsity as ReadonlyMap<string, number>).entries()]
      : Object.entries(options.sparsity);
  for (const [name, sparsity] of entries) {
    if (!(sparsity >= 0 && sparsity < 1)) {
      throw new FedpeftError('INVALID_SPARSITY', `sparsity for ${name} must be in [0, 1), got ${sparsity}`);
    }
    plan.set(name, { kind: 'unstructured', sparsity });
  }
  return plan;
}
