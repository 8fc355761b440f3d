/**
 * Which r input columns a window/columns adapter reads, per layer and per chain link. All choices come from
 * the run seed (never Math.random), so every client reads the same columns and their B's average exactly.
 */
import { tf } from '../../tensor/tf.ts';
import type { Rng } from '../../tensor/rng.ts';
import type { ColumnSelector } from './fused-ops.ts';

/** Columns `w, w+1, ..., w+r-1` (mod m): a contiguous slice unless the window wraps past the last column. */
export function windowSelector(offset: number, r: number, m: number): ColumnSelector {
  const w = ((offset % m) + m) % m;
  const indices = Int32Array.from({ length: r }, (_, j) => (w + j) % m);
  return { start: w + r <= m ? w : null, indices: tf.tensor1d(indices, 'int32') };
}

/** r distinct seeded columns in increasing order (a gather; a slice when they happen to be contiguous). */
export function randomColumnsSelector(rng: Rng, r: number, m: number): ColumnSelector {
  const chosen = rng
    .permutation(m)
    .slice(0, r)
    .sort((a, b) => a - b);
  const first = chosen[0] as number;
  const contiguous = chosen.every((c, j) => c === first + j);
  return { start: contiguous ? first : null, indices: tf.tensor1d(Int32Array.from(chosen), 'int32') };
}

/**
 * The window offset of link `link` for a layer with `m` inputs:
 * - `sequential`: `base + link * r` (mod m) — c³LA shifts the window by r per link;
 * - `permuted`: the windows `0, r, 2r, ...` visited in a seeded permutation (random-c³LA). The permutation
 *   depends only on (seed, m, r), so every client and every layer of equal width follows the same order.
 */
export function linkOffset(
  kind: 'sequential' | 'permuted',
  rootRng: Rng,
  base: number,
  link: number,
  r: number,
  m: number,
): number {
  if (kind === 'sequential') return (base + link * r) % m;
  const windows = Math.max(1, Math.floor(m / r));
  const order = rootRng.fork(`windows:${m}:${r}`).permutation(windows);
  return (order[link % windows] as number) * r;
}
