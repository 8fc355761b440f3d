/**
 * Preparing a base for LoSA in a centralized reference run: one-shot Wanda pruning of the adapted Linears to
 * a target sparsity, with calibration activations captured from the model's own forward pass, and per-layer
 * adapter ranks from each layer's reconstruction error (`allocateRanks`). The LoSA preset then derives its
 * masks (`K != 0`) from the pruned kernels.
 *
 * This is the single-step form (prune once, then train); the paper's T-step cubic schedule interleaves
 * pruning and training and belongs to the federated LoSA pipeline.
 *
 * Activations are captured one layer at a time, after the layers before it were pruned (as Wanda does), by
 * temporarily hooking that Linear during a forward pass over the calibration batch.
 */
import { tf } from '../tensor/tf.ts';
import type { Gpt } from '../model/gpt.ts';
import type { Linear, Role } from '../model/linear.ts';
import { disposeBatch, evalWindows, windowsToBatch } from '../data/lm-batches.ts';
import { pruneModel } from '../pruning/prune-model.ts';
import { allocateRanks } from '../pruning/rank-allocation.ts';

export interface LosaBaseOptions {
  /** Fraction of each adapted kernel's weights to remove. */
  sparsity: number;
  roles: readonly Role[];
  /** Mean adapter rank per layer (the budget is layers x targetRank). */
  targetRank: number;
  maxRank: number;
  /** Calibration windows from the stream (evenly spaced). Default 8. */
  calibrationWindows?: number;
}

export interface LosaBase {
  /** Per-layer adapter ranks by Linear name (the LoSA preset's `ranks`). */
  ranks: Record<string, number>;
  /** Achieved fraction of pruned weights over the pruned layers. */
  sparsity: number;
}

export function pruneBaseForLosa(model: Gpt, calibration: Int32Array, options: LosaBaseOptions): LosaBase {
  const T = model.config.contextLength;
  const windows = evalWindows(calibration, T, options.calibrationWindows ?? 8);
  const batch = windowsToBatch(calibration, windows.starts, T);
  const targets = model.linears().filter((l) => options.roles.includes(l.role));
  const capture = (linear: Linear): tf.Tensor2D => {
    let captured: tf.Tensor2D | null = null;
    const previous = linear.hook;
    linear.hook = {
      forward: (x, base) => {
        captured = tf.keep(tf.clone(x));
        return base.baseForward(x);
      },
    };
    try {
      // Only the captured input is wanted: the loss is disposed with everything else the pass made.
      tf.tidy(() => {
        model.loss(batch);
      });
    } finally {
      linear.hook = previous;
    }
    if (!captured) throw new Error(`calibration forward pass never reached ${linear.name}`);
    return captured;
  };
  try {
    const result = pruneModel(model, {
      activations: capture,
      sparsity: Object.fromEntries(targets.map((l) => [l.name, options.sparsity])),
    });
    for (const mask of result.masks.values()) mask.dispose();
    const names = targets.map((l) => l.name);
    const ranks = allocateRanks(
      names.map((n) => result.reconstructionError.get(n) ?? 0),
      { targetRank: options.targetRank, maxRank: options.maxRank },
    );
    let removed = 0;
    let total = 0;
    for (const l of targets) {
      removed += (result.sparsity.get(l.name) ?? 0) * l.inDim * l.outDim;
      total += l.inDim * l.outDim;
    }
    return {
      ranks: Object.fromEntries(names.map((n, i) => [n, ranks[i] as number])),
      sparsity: removed / total,
    };
  } finally {
    disposeBatch(batch);
  }
}
