/**
 * LoSA's per-layer adapter ranks: a layer that pruning damaged more (larger reconstruction error between its
 * dense and sparse outputs, e.g. `||X K_dense - X K_sparse||_F`) gets a larger share of a fixed rank budget.
 *
 * Ranks are proportional to the errors, clipped to [minRank, maxRank], with the clipped excess redistributed so
 * the total stays `L * targetRank` whenever the clip allows it: the real-valued solution is `clip(lambda * e_i)`
 * with the single scale lambda that makes the clipped values sum to the budget (found exactly by variable
 * fixing, see `proportionalWithinBounds`). Integers come from largest-remainder rounding, which preserves the
 * (integer) total and never leaves [minRank, maxRank].
 */
import { FedpeftError } from '../errors.ts';

export interface RankAllocationOptions {
  /** Mean rank per layer; the budget is `layers * targetRank`. */
  targetRank: number;
  /** Largest rank any layer may get. */
  maxRank: number;
  /** Smallest rank any layer may get (default 1). */
  minRank?: number;
}

/**
 * Integer rank per layer, proportional to `errors` (non-negative, finite). When every error is 0 the budget is
 * split evenly. The total is `L * targetRank`, unless that is outside `[L minRank, L maxRank]`, in which case every
 * layer sits at the violated bound.
 */
export function allocateRanks(errors: readonly number[], options: RankAllocationOptions): number[] {
  const { targetRank, maxRank } = options;
  const minRank = options.minRank ?? 1;
  if (!Number.isInteger(minRank) || !Number.isInteger(maxRank) || minRank < 1 || maxRank < minRank) {
    throw new FedpeftError(
      'INVALID_OPTION',
      `ranks need integers 1 <= minRank <= maxRank, got minRank ${minRank}, maxRank ${maxRank}`,
    );
  }
  if (!Number.isInteger(targetRank) || targetRank < 1) {
    throw new FedpeftError('INVALID_OPTION', `targetRank must be a positive integer, got ${targetRank}`);
  }
  errors.forEach((e, i) => {
    if (!(e >= 0) || !Number.isFinite(e)) {
      throw new FedpeftError(
        'INVALID_OPTION',
        `reconstruction error of layer ${i} must be finite and >= 0, got ${e}`,
      );
    }
  });
  const L = errors.length;
  if (L === 0) return [];
  const budget = Math.min(Math.max(L * targetRank, L * minRank), L * maxRank);
  const real = proportionalWithinBounds(errors, budget, minRank, maxRank);
  return largestRemainder(real, budget, errors, maxRank);
}

/**
 * Real values `clip(lambda * w_i, lo, hi)` summing to `budget` (which must lie in [L lo, L hi]), by variable
 * fixing: solve the unclipped problem on the free layers; if the values above `hi` overshoot by more than the
 * values below `lo` undershoot, the true lambda is at least as large, so the layers above `hi` stay there in the
 * solution and can be fixed (symmetrically for `lo`). Each round fixes at least one layer, so at most L rounds.
 * When only zero-weight layers are left free they share the rest evenly (a clipped layer's excess must go
 * somewhere, and none of them is more deserving).
 */
function proportionalWithinBounds(
  weights: readonly number[],
  budget: number,
  lo: number,
  hi: number,
): number[] {
  const x = new Array<number>(weights.length).fill(lo);
  let free = weights.map((_, i) => i);
  let remaining = budget;
  while (free.length > 0) {
    // Rescale the free weights to max 1 every round, so lambda stays finite even for denormal errors.
    const maxW = Math.max(...free.map((i) => weights[i] ?? 0));
    const w = new Map(free.map((i) => [i, maxW > 0 ? (weights[i] ?? 0) / maxW : 1]));
    const lambda = remaining / [...w.values()].reduce((a, b) => a + b, 0);
    let excess = 0;
    let deficit = 0;
    for (const [i, wi] of w) {
      const v = lambda * wi;
      x[i] = v;
      if (v > hi) excess += v - hi;
      if (v < lo) deficit += lo - v;
    }
    if (excess === 0 && deficit === 0) break;
    const fixHigh = excess >= deficit;
    const fixLow = deficit >= excess;
    const stillFree: number[] = [];
    for (const i of free) {
      const v = x[i] ?? 0;
      if (fixHigh && v > hi) x[i] = hi;
      else if (fixLow && v < lo) x[i] = lo;
      else {
        stillFree.push(i);
        continue;
      }
      remaining -= x[i] ?? 0;
    }
    free = stillFree;
  }
  return x;
}

/** Round `real` to integers summing to `total`: floors, then +1 to the largest fractional parts. */
function largestRemainder(
  real: number[],
  total: number,
  weights: readonly number[],
  maxRank: number,
): number[] {
  // Snap values within float noise of an integer, so 3.0000000001 does not count as a remainder.
  const snapped = real.map((v) => (Math.abs(v - Math.round(v)) < 1e-9 ? Math.round(v) : v));
  const ranks = snapped.map((v) => Math.floor(v));
  let missing = total - ranks.reduce((a, b) => a + b, 0);
  const order = snapped
    .map((v, i) => i)
    .sort(
      (a, b) =>
        (snapped[b] ?? 0) - (ranks[b] ?? 0) - ((snapped[a] ?? 0) - (ranks[a] ?? 0)) ||
        (weights[b] ?? 0) - (weights[a] ?? 0) ||
        a - b,
    );
  for (const i of order) {
    if (missing <= 0) break;
    if ((ranks[i] ?? 0) < maxRank) {
      ranks[i] = (ranks[i] ?? 0) + 1;
      missing--;
    }
  }
  return ranks;
}
