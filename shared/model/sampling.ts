/**
 * Picking the next token from a row of logits on the host: temperature, top-k, seeded draw. Host-side because
 * one row of a few hundred to fifty thousand values is cheaper to read once than to process with kernels.
 */
import type { Rng } from '../tensor/rng.ts';

export interface SamplingOptions {
  /** 0 = greedy (argmax); otherwise logits are divided by it. Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (ties at the threshold are kept). Unset = all. */
  topK?: number;
  /** The only randomness source; required unless the temperature is 0. */
  rng?: Rng;
}

export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions = {}): number {
  const temperature = options.temperature ?? 1;
  if (!(temperature >= 0)) throw new Error(`temperature must be >= 0, got ${temperature}`);
  const n = logits.length;
  if (n === 0) throw new Error('cannot sample from empty logits');
  let best = 0;
  for (let i = 1; i < n; i++) if ((logits[i] as number) > (logits[best] as number)) best = i;
  if (temperature === 0) return best;
  if (!options.rng) throw new Error('sampling with temperature > 0 needs a seeded rng');
  let threshold = -Infinity;
  if (options.topK !== undefined) {
    if (!Number.isInteger(options.topK) || options.topK < 1) {
      throw new Error(`topK must be a positive integer, got ${options.topK}`);
    }
    if (options.topK < n) {
      const sorted = Float64Array.from(logits).sort();
      threshold = sorted[n - options.topK] as number;
    }
  }
  const max = logits[best] as number;
  const weights = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const z = logits[i] as number;
    if (z < threshold) continue;
    const w = Math.exp((z - max) / temperature);
    weights[i] = w;
    total += w;
  }
  let u = options.rng.next() * total;
  for (let i = 0; i < n; i++) {
    u -= weights[i] as number;
    if (u < 0 && (weights[i] as number) > 0) return i;
  }
  return best;
}
