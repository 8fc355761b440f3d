/**
 * What every partitioner produces before per-client splitting: which document indices each client owns, and
 * which documents were left out on purpose (with the reason, so "every document is in exactly one client
 * split or documented as dropped" can be checked), plus the sampling helpers the schemes share.
 */
import type { Rng } from '../tensor/rng.ts';

export interface ClientAssignment {
  clientId: string;
  /** Indices into the corpus's documents, ascending. */
  indices: number[];
}

export interface DroppedAssignment {
  /** The client (or natural group) the documents would have belonged to. */
  clientId: string;
  indices: number[];
  reason: string;
}

export interface AssignmentResult {
  clients: ClientAssignment[];
  dropped: DroppedAssignment[];
}

/** `client-00`, `client-01`, ... zero-padded so ids sort in client order. */
export function syntheticClientIds(count: number): string[] {
  const width = String(Math.max(0, count - 1)).length;
  return Array.from({ length: count }, (_, i) => `client-${String(i).padStart(width, '0')}`);
}

/**
 * A Dirichlet(alpha, ..., alpha) sample of length n from normalized Gamma draws. For tiny alpha every Gamma
 * draw can underflow to 0; the limit of the distribution is then a one-hot on a uniformly chosen entry.
 */
export function sampleDirichlet(rng: Rng, alpha: number, n: number): number[] {
  const g = Array.from({ length: n }, () => rng.gamma(alpha));
  const sum = g.reduce((a, b) => a + b, 0);
  if (!(sum > 0) || !Number.isFinite(sum)) {
    const hot = rng.int(n);
    return g.map((_, i) => (i === hot ? 1 : 0));
  }
  return g.map((x) => x / sum);
}

/**
 * Integer counts summing to `total`, proportional to `shares` (Hamilton's largest-remainder method; ties go
 * to the lower index so the result is deterministic).
 */
export function apportion(total: number, shares: readonly number[]): number[] {
  const sum = shares.reduce((a, b) => a + b, 0);
  const exact = shares.map((s) => (sum > 0 ? (total * s) / sum : total / shares.length));
  const counts = exact.map(Math.floor);
  let left = total - counts.reduce((a, b) => a + b, 0);
  const byRemainder = exact
    .map((e, i) => ({ i, r: e - Math.floor(e) }))
    .sort((a, b) => b.r - a.r || a.i - b.i);
  for (let k = 0; left > 0; k = (k + 1) % byRemainder.length, left--) {
    const idx = (byRemainder[k] as { i: number }).i;
    counts[idx] = (counts[idx] as number) + 1;
  }
  return counts;
}

/** Cuts `items` into consecutive runs of the given sizes. */
export function cutConsecutive(items: readonly number[], sizes: readonly number[]): number[][] {
  const out: number[][] = [];
  let at = 0;
  for (const size of sizes) {
    out.push(items.slice(at, at + size));
    at += size;
  }
  return out;
}

export function ascending(indices: number[]): number[] {
  return indices.sort((a, b) => a - b);
}
