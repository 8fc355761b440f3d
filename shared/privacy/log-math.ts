/**
 * Float64 log-space arithmetic for privacy accounting. RDP terms of the sampled Gaussian mechanism span
 * hundreds of orders of magnitude (binomial coefficients of order 1024 times exp(i²/2σ²)), so every sum is
 * taken in log space; a plain sum would overflow to Infinity long before the answer does.
 */

/** log(e^a + e^b), exact for -Infinity (log 0) operands. */
export function logAdd(a: number, b: number): number {
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  if (lo === -Infinity) return hi;
  return Math.log1p(Math.exp(lo - hi)) + hi;
}

/**
 * log(e^a - e^b) for a >= b. The fractional-order series subtracts terms whose signs alternate; a result
 * below zero means the series went wrong, which is a bug rather than a user error.
 */
export function logSub(a: number, b: number): number {
  if (a < b) throw new Error(`logSub: the result would be negative (log ${a} - log ${b})`);
  if (b === -Infinity) return a;
  if (a === b) return -Infinity;
  const d = Math.expm1(a - b);
  // For a - b beyond ~709 expm1 overflows while the answer is simply a (the subtrahend is negligible).
  return Number.isFinite(d) ? Math.log(d) + b : a;
}

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);

/**
 * log(erfc(x)) with full relative accuracy in both tails: `Math.log(1 - erf(x))` loses everything beyond
 * x ≈ 6 (erfc underflows at x ≈ 27 while its log is a perfectly ordinary number), which is exactly where the
 * fractional-order RDP series evaluates it.
 */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return -Infinity;
  if (x < 0) return Math.log(2 - erfcPositive(-x));
  if (x < 3) return Math.log(erfcPositive(x));
  return -x * x - LOG_SQRT_PI + Math.log(erfcContinuedFraction(x));
}

/** erfc(x) for any real x (used by the statistical tests of the noise and by logErfc). */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  return x < 0 ? 2 - erfcPositive(-x) : erfcPositive(x);
}

/** Standard normal CDF Φ(x). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

function erfcPositive(x: number): number {
  if (x < 3) return 1 - erfSeries(x);
  return (Math.exp(-x * x) / Math.sqrt(Math.PI)) * erfcContinuedFraction(x);
}

/**
 * erf(x) = 2/√π · e^{-x²} · Σ_n 2^n x^{2n+1} / (1·3·…·(2n+1)). Every term is positive, so there is no
 * cancellation; for x < 3 the remaining 1 - erf(x) loses at most ~5e-12 relative accuracy.
 */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
}

/**
 * √π · e^{x²} · erfc(x) by Laplace's continued fraction
 * erfc(x) = e^{-x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated backwards. For x >= 3 sixty
 * levels are far more than float64 needs.
 */
function erfcContinuedFraction(x: number): number {
  let f = x;
  for (let k = 60; k >= 1; k--) f = x + k / 2 / f;
  return 1 / f;
}
