/**
 * LoSA's layer-wise sparsity: prune redundant layers more, keeping the model-wide mean at the target.
 *
 *   tau_i = sum_{j != i} CKA(i, j)              how much layer i's input is already carried by the others
 *   tau   min-max normalized to [0, 1]          so `beta` means the same thing for 4 layers or 40
 *   imp_i = exp(-beta * tau_i)                  redundant (high tau) => unimportant
 *   min sum_i x_i imp_i  s.t.  mean(x) = target,  max(0, target - delta) <= x_i <= min(target + delta, maxLayerSparsity)
 *
 * The last line is a linear program over a box with one equality, solved exactly by the greedy fill: start every
 * layer at its lower bound and hand the remaining budget to layers in ascending importance, each up to its upper
 * bound (exchange argument: moving sparsity from a less to a more important layer never lowers the cost). Layers
 * of equal importance share their portion equally, so identical layers get identical sparsity. Because the LP
 * only depends on the ORDER of the importances, `beta` does not change the allocation (any beta > 0 gives the
 * same x); it shapes the reported importances and is kept for fidelity to the paper.
 */
import { FedpeftError } from '../errors.ts';

export interface SparsityAllocationOptions {
  /** Model-wide mean sparsity, in [0, 1). */
  target: number;
  /** Largest allowed deviation of any layer from the target (LoSA's delta); >= 0. */
  delta: number;
  /** Importance temperature `imp = exp(-beta tau)` (default 1; must be > 0). */
  beta?: number;
  /** Hard ceiling per layer, below 1 so no layer is erased (default 0.99; must be >= target). */
  maxLayerSparsity?: number;
}

export interface SparsityAllocation {
  /** Per-layer sparsity, mean equal to the target. */
  sparsity: number[];
  /** Normalized redundancy in [0, 1] (0 = least redundant layer). */
  tau: number[];
  /** `exp(-beta tau)`, in (0, 1]. */
  importance: number[];
}

export const DEFAULT_BETA = 1;
export const DEFAULT_MAX_LAYER_SPARSITY = 0.99;

/** `tau_i = sum_{j != i} cka[i][j]`, min-max normalized to [0, 1] (all 0 when every layer is equally redundant). */
export function redundancy(cka: readonly (readonly number[])[]): number[] {
  const L = cka.length;
  const raw = cka.map((row, i) => {
    if (row.length !== L) {
      throw new FedpeftError(
        'INVALID_SHAPE',
        `CKA matrix must be square: row ${i} has ${row.length} entries, expected ${L}`,
      );
    }
    return row.reduce((acc, v, j) => (j === i ? acc : acc + v), 0);
  });
  const lo = Math.min(...raw);
  const hi = Math.max(...raw);
  return raw.map((t) => (hi > lo ? (t - lo) / (hi - lo) : 0));
}

/** Per-layer sparsity from a pairwise CKA matrix (see the file comment). */
export function allocateSparsity(
  cka: readonly (readonly number[])[],
  options: SparsityAllocationOptions,
): SparsityAllocation {
  const beta = options.beta ?? DEFAULT_BETA;
  if (!(beta > 0) || !Number.isFinite(beta)) {
    throw new FedpeftError('INVALID_OPTION', `beta must be a positive number, got ${beta}`);
  }
  const tau = redundancy(cka);
  const importance = tau.map((t) => Math.exp(-beta * t));
  return { sparsity: allocateByImportance(importance, options), tau, importance };
}

/**
 * Solve `min sum x_i imp_i` s.t. mean(x) = target and the per-layer box, exactly (greedy fill by ascending
 * importance). Exposed separately so other importance measures can reuse the solver.
 */
export function allocateByImportance(
  importance: readonly number[],
  options: SparsityAllocationOptions,
): number[] {
  const { target, delta } = options;
  const maxLayer = options.maxLayerSparsity ?? DEFAULT_MAX_LAYER_SPARSITY;
  if (!(target >= 0 && target < 1)) {
    throw new FedpeftError('INVALID_SPARSITY', `target sparsity must be in [0, 1), got ${target}`);
  }
  if (!(delta >= 0) || !Number.isFinite(delta)) {
    throw new FedpeftError('INVALID_OPTION', `delta must be a non-negative number, got ${delta}`);
  }
  if (!(maxLayer >= target && maxLayer < 1)) {
    throw new FedpeftError(
      'INVALID_OPTION',
      `maxLayerSparsity must be in [target, 1) = [${target}, 1), got ${maxLayer}`,
    );
  }
  const L = importance.length;
  const lo = Math.max(0, target - delta);
  const hi = Math.min(maxLayer, target + delta);
  return fillByImportance(importance, new Array<number>(L).fill(lo), new Array<number>(L).fill(hi), target);
}

/**
 * The greedy solver of `min sum x_i imp_i` s.t. mean(x) = target and `lo_i <= x_i <= hi_i`: every layer starts
 * at its lower bound and the remaining budget goes to layers in ascending importance, each up to its upper
 * bound. Layers of (numerically) equal importance are filled to a common level (water-filling), so identical
 * layers with identical bounds get identical sparsity. When the lower bounds alone exceed the budget they are
 * returned as they are.
 */
export function fillByImportance(
  importance: readonly number[],
  lo: readonly number[],
  hi: readonly number[],
  target: number,
): number[] {
  const L = importance.length;
  const x = [...lo];
  let budget = L * target - lo.reduce((a, b) => a + b, 0);
  const order = importance
    .map((_, i) => i)
    .sort((a, b) => (importance[a] ?? 0) - (importance[b] ?? 0) || a - b);
  for (let start = 0; start < L && budget > 0;) {
    let end = start + 1;
    const base = importance[order[start] ?? 0] ?? 0;
    while (
      end < L &&
      Math.abs((importance[order[end] ?? 0] ?? 0) - base) <= 1e-12 * Math.max(1, Math.abs(base))
    )
      end++;
    const group = order.slice(start, end);
    const capacity = group.reduce((acc, i) => acc + (hi[i] ?? 0) - (lo[i] ?? 0), 0);
    const give = Math.min(budget, capacity);
    const level = waterLevel(group, lo, hi, give);
    for (const i of group) x[i] = Math.min(hi[i] ?? 0, Math.max(lo[i] ?? 0, level));
    budget -= give;
    start = end;
  }
  return x;
}

/** The level `v` with `sum_i (clamp(v, lo_i, hi_i) - lo_i) = give` over `group`. */
function waterLevel(
  group: readonly number[],
  lo: readonly number[],
  hi: readonly number[],
  give: number,
): number {
  const lo0 = lo[group[0] ?? 0] ?? 0;
  const hi0 = hi[group[0] ?? 0] ?? 0;
  // Equal boxes (always, without floors): the level is exact, not bisected.
  if (group.every((i) => lo[i] === lo0 && hi[i] === hi0)) return lo0 + give / group.length;
  const filled = (v: number) =>
    group.reduce((acc, i) => acc + Math.min(hi[i] ?? 0, Math.max(lo[i] ?? 0, v)) - (lo[i] ?? 0), 0);
  let a = Math.min(...group.map((i) => lo[i] ?? 0));
  let b = Math.max(...group.map((i) => hi[i] ?? 0));
  // Bisection: `filled` is monotone in v.
  for (let iter = 0; iter < 200 && b - a > 1e-15; iter++) {
    const mid = (a + b) / 2;
    if (filled(mid) < give) a = mid;
    else b = mid;
  }
  return b;
}
