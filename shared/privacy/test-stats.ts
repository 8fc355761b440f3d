/**
 * Statistics helpers for the noise tests (test support, not product code): a Kolmogorov–Smirnov distance to
 * the normal distribution and the sample standard deviation.
 */
import { normalCdf } from './log-math.ts';

export function sampleStd(values: ArrayLike<number>, mean = 0): number {
  let sq = 0;
  for (let i = 0; i < values.length; i++) sq += ((values[i] as number) - mean) ** 2;
  return Math.sqrt(sq / values.length);
}

/** sup |F_n(x) - Φ(x/std)|. Critical value at significance α: sqrt(-ln(α/2)/2)/√n (1.36/√n at α = 0.05). */
export function ksDistanceToNormal(values: ArrayLike<number>, std: number): number {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = normalCdf((sorted[i] as number) / std);
    d = Math.max(d, (i + 1) / n - f, f - i / n);
  }
  return d;
}

export function ksCritical(n: number, alpha: number): number {
  return Math.sqrt(-Math.log(alpha / 2) / 2) / Math.sqrt(n);
}
