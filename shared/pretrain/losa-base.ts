/**
 * The bases a centralized LoSA run is measured against: the dense base (kept aside on the host, so the run can
 * put it back) and the base pruned in ONE shot to the final sparsity with no training at all.
 *
 * The one-shot base uses exactly the pruner the schedule ends with (`losaPruneStep` at the target sparsity:
 * CKA layer-wise sparsity, Wanda), so "dense -> pruned untrained -> scheduled prune-and-train" separates what
 * pruning costs from what LoSA's interleaved training wins back.
 */
import type { tf } from '../tensor/tf.ts';
import { fromHost, toHost, type HostTensor } from '../tensor/host-tensor.ts';
import type { Linear } from '../model/linear.ts';
import type { AdaptableModel, Batch } from '../model/types.ts';
import type { LanguageModelMetrics } from '../eval/language-model.ts';
import { losaPruneStep, type LosaScheduleConfigInput } from '../pruning/losa-schedule.ts';

/** Host copies of every Linear kernel; `restore()` writes them back (pruning and merging only touch kernels). */
export interface KernelSnapshot {
  restore(): void;
}

export function snapshotKernels(model: Pick<AdaptableModel, 'linears'>): KernelSnapshot {
  const saved: [Linear, HostTensor][] = model.linears().map((l) => [l, toHost(l.kernel)]);
  return {
    restore() {
      for (const [linear, host] of saved) {
        const values = fromHost(host) as tf.Tensor2D;
        try {
          linear.assignKernel(values);
        } finally {
          values.dispose();
        }
      }
    },
  };
}

export interface OneShotPrunedOptions {
  /** The final mean sparsity (the schedule's target S). */
  sparsity: number;
  /** Calibration batches for Wanda and CKA (the same the schedule uses); not disposed. */
  calibration: readonly Batch[];
  seed: number;
  /** The schedule's hyper-parameters (roles, delta, beta, pattern, ranks); `steps` is irrelevant here. */
  config?: LosaScheduleConfigInput;
  /** Scores the model as it then computes (e.g. held-out perplexity). */
  evaluate: () => LanguageModelMetrics;
}

export interface OneShotPruned {
  metrics: LanguageModelMetrics;
  /** Mean over decoder layers of the achieved zero fraction. */
  sparsity: number;
}

/**
 * Prunes the (dense, adapter-free) model once to `sparsity`, scores it with the fresh LoSA adapter still at
 * zero (so: the pruned base alone), then detaches the adapter and restores the dense kernels. The model is
 * left exactly as it was, also when pruning or scoring throws.
 */
export function evaluateOneShotPruned(model: AdaptableModel, options: OneShotPrunedOptions): OneShotPruned {
  const dense = snapshotKernels(model);
  try {
    const { adapter, report } = losaPruneStep(model, null, {
      sparsity: options.sparsity,
      calibration: options.calibration,
      seed: options.seed,
      config: options.config ?? {},
    });
    try {
      return { metrics: options.evaluate(), sparsity: report.meanSparsity };
    } finally {
      adapter.detach();
    }
  } finally {
    dense.restore();
  }
}
