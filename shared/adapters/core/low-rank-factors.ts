/**
 * A slot's weight update as explicit factors `ΔK = P Q` (TF.js layout, scale folded into `Q`), the form every
 * portable adapter format stores. Each update shape of the core has one exact factorization:
 *
 * - `factored` (LoRA family, PiCa): `P = A[:, :k]`, `Q = s B[:k, :]` with `k` the slot's active rank;
 * - `window` / `columns` (cLA family, PaCA): `P = E`, the `[in, r]` selection matrix with `E[idx_j, j] = 1`
 *   (the frozen factor the fused op never materializes), `Q = s B`;
 * - `dense` (full fine-tuning) and masked updates (LoSA's `(A B) ⊙ M`) have none of bounded rank.
 */
import { tf } from '../../tensor/tf.ts';
import type { LowRankFactors } from '../types.ts';
import type { ColumnSelector } from './fused-ops.ts';

export interface SlotTensors {
  readonly inDim: number;
  readonly A: tf.Tensor2D | null;
  readonly B: tf.Tensor2D | null;
  readonly D: tf.Tensor2D | null;
  readonly selector: ColumnSelector | null;
  readonly mask: tf.Tensor2D | null;
  readonly activeRank: number;
}

/** Why a slot's update has no exact low-rank factorization, or null when it has one. */
export function notLowRankReason(slot: SlotTensors): string | null {
  if (slot.D) return 'it updates every entry of the targeted kernels (a dense delta, not low rank)';
  if (slot.mask)
    return "its update (A B) ⊙ M is masked by the base's sparsity pattern, which is not low rank";
  return null;
}

/** The `[m, r]` matrix with a one at `(indices[j], j)`: `x E` selects the columns `indices` of `x`. */
export function selectionMatrix(indices: Int32Array, m: number): tf.Tensor2D {
  const r = indices.length;
  const data = new Float32Array(m * r);
  indices.forEach((row, j) => {
    data[row * r + j] = 1;
  });
  return tf.tensor2d(data, [m, r]);
}

/** `P`, `Q` of one slot (new tensors); the caller checked `notLowRankReason` first. */
export function slotLowRankFactors(slot: SlotTensors, scale: number): LowRankFactors {
  const reason = notLowRankReason(slot);
  if (reason !== null) throw new Error(`unreachable: low-rank factors requested although ${reason}`);
  if (slot.selector && slot.B) {
    const B = slot.B;
    return {
      P: selectionMatrix(slot.selector.indices.dataSync() as Int32Array, slot.inDim),
      Q: tf.tidy(() => tf.mul<tf.Tensor2D>(B, scale)),
    };
  }
  const A = slot.A as tf.Tensor2D;
  const B = slot.B as tf.Tensor2D;
  const k = slot.activeRank;
  return {
    P: tf.slice(A, [0, 0], [A.shape[0], k]),
    Q: tf.tidy(() => tf.mul<tf.Tensor2D>(tf.slice(B, [0, 0], [k, B.shape[1]]), scale)),
  };
}

export function disposeFactors(layers: ReadonlyMap<string, LowRankFactors>): void {
  for (const { P, Q } of layers.values()) tf.dispose([P, Q]);
}
