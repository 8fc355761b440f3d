/**
 * Rényi-DP accountant for the sampled Gaussian mechanism: each round samples clients with probability q,
 * clips their updates to L2 norm C and adds Gaussian noise of standard deviation z·C to the sum.
 *
 * RDP of one step at order α is log(A_α)/(α-1) (Mironov, Talwar, Zhang 2019, "Rényi Differential Privacy of
 * the Sampled Gaussian Mechanism", arXiv:1908.10530, §3.3): for integer α the closed form
 *   A_α = Σ_{i=0..α} C(α,i) (1-q)^{α-i} q^i exp((i²-i)/(2z²)),
 * for fractional α the two-sided erfc series of the same paper. This is the computation of TensorFlow
 * Privacy's `rdp_accountant.compute_rdp` and Opacus' `accountants/analysis/rdp.py`, in float64 and log space.
 * RDP composes additively over steps, so the accountant only keeps one running vector over the orders.
 *
 * Conversion to (ε, δ): by default the improved bound of Balle, Barthe, Gaboardi, Hsu, Sato 2020 ("Hypothesis
 * testing interpretations and Rényi differential privacy", Theorem 21; the same bound as Canonne, Kamath,
 * Steinke 2020, Proposition 12):
 *   ε = rdp_α + log((α-1)/α) - (log δ + log α)/(α-1),
 * minimised over the orders — exactly what Opacus' `get_privacy_spent` computes and what TF Privacy /
 * dp_accounting use since 2020. The classic Mironov 2017 bound ε = rdp_α - log δ/(α-1) is kept as an option
 * because older published numbers (e.g. the TF Privacy MNIST tutorial's ε = 3.01) were computed with it.
 */
import { logAdd, logErfc, logSub } from './log-math.ts';
import { FedpeftError } from '../errors.ts';

/**
 * The orders at which RDP is tracked: the union of TF Privacy's and Opacus' default lists
 * (1.1 … 10.9 in steps of 0.1, 1.25 … 4.5, every integer 5 … 64) plus large orders (128 … 1024) that give the
 * tightest bound for small ε / tiny δ. More orders can only tighten the minimum.
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze(
  [
    ...new Set([
      1.25,
      1.5,
      1.75,
      2,
      2.25,
      2.5,
      3,
      3.5,
      4,
      4.5,
      ...Array.from({ length: 99 }, (_, x) => Math.round((1 + (x + 1) / 10) * 10) / 10),
      ...Array.from({ length: 60 }, (_, x) => x + 5),
      80,
      96,
      128,
      256,
      512,
      1024,
    ]),
  ].sort((a, b) => a - b),
);

export type RdpConversion = 'balle2020' | 'classic';

export interface PrivacySpent {
  epsilon: number;
  /** The RDP order that gave the smallest ε (at the edge of the list: the list should be widened). */
  order: number;
}

export interface PrivacyBudget {
  epsilon: number;
  delta: number;
}

/** RDP of `steps` compositions of the sampled Gaussian mechanism, one value per order. */
export function computeRdp(
  samplingRate: number,
  noiseMultiplier: number,
  steps: number,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): Float64Array {
  checkMechanism(samplingRate, noiseMultiplier);
  if (!(Number.isFinite(steps) && steps >= 0)) {
    throw new FedpeftError('INVALID_PRIVACY_PARAMETER', `steps must be a number >= 0, got ${steps}`);
  }
  checkOrders(orders);
  const out = new Float64Array(orders.length);
  for (let k = 0; k < orders.length; k++) {
    const rdp = rdpOneStep(samplingRate, noiseMultiplier, orders[k] as number);
    // 0 * Infinity would be NaN; zero steps spend nothing.
    out[k] = steps === 0 ? 0 : rdp * steps;
  }
  return out;
}

function rdpOneStep(q: number, z: number, alpha: number): number {
  if (q === 0) return 0;
  if (z === 0) return Infinity;
  if (q === 1) return alpha / (2 * z * z);
  if (alpha === Infinity) return Infinity;
  return logA(q, z, alpha) / (alpha - 1);
}

function logA(q: number, z: number, alpha: number): number {
  return Number.isInteger(alpha) ? logAInteger(q, z, alpha) : logAFractional(q, z, alpha);
}

/** log A_α for integer α: a log-sum-exp over the α+1 binomial terms. */
function logAInteger(q: number, z: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoVar = 2 * z * z;
  let logBinom = 0; // log C(alpha, 0)
  let acc = -Infinity;
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log(alpha - i + 1) - Math.log(i);
    const term = logBinom + i * logQ + (alpha - i) * log1mQ + (i * i - i) / twoVar;
    acc = logAdd(acc, term);
  }
  return acc;
}

/**
 * log A_α for fractional α (Mironov et al. 2019, §3.3): the integral split at z0 = z² log(1/q - 1) + 1/2 into
 * two series with generalized binomial coefficients (whose signs alternate once i > α), summed until both
 * terms drop below e^-30 — the stopping rule of TF Privacy and Opacus.
 */
function logAFractional(q: number, z: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoVar = 2 * z * z;
  const z0 = z * z * Math.log(1 / q - 1) + 0.5;
  const denom = Math.SQRT2 * z;
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  let logAbsCoef = 0; // log |C(alpha, 0)|
  let coefPositive = true;
  for (let i = 0; ; i++) {
    if (i > 0) {
      const factor = (alpha - i + 1) / i;
      logAbsCoef += Math.log(Math.abs(factor));
      if (factor < 0) coefPositive = !coefPositive;
    }
    const j = alpha - i;
    const logT0 = logAbsCoef + i * logQ + j * log1mQ;
    const logT1 = logAbsCoef + j * logQ + i * log1mQ;
    const logE0 = Math.log(0.5) + logErfc((i - z0) / denom);
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / denom);
    const logS0 = logT0 + (i * i - i) / twoVar + logE0;
    const logS1 = logT1 + (j * j - j) / twoVar + logE1;
    if (coefPositive) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    if (Math.max(logS0, logS1) < -30) break;
    if (i > 100_000) throw new Error(`RDP series did not converge (q=${q}, z=${z}, alpha=${alpha})`);
  }
  return logAdd(logA0, logA1);
}

/** The smallest ε over the orders for which the RDP curve gives (ε, δ)-DP. */
export function rdpToEpsilon(
  orders: readonly number[],
  rdp: ArrayLike<number>,
  delta: number,
  conversion: RdpConversion = 'balle2020',
): PrivacySpent {
  if (orders.length !== rdp.length) {
    throw new Error(`rdpToEpsilon: ${orders.length} orders but ${rdp.length} RDP values`);
  }
  checkDelta(delta);
  const logDelta = Math.log(delta);
  let best: PrivacySpent = { epsilon: Infinity, order: NaN };
  for (let k = 0; k < orders.length; k++) {
    const a = orders[k] as number;
    const r = rdp[k] as number;
    if (Number.isNaN(r) || r < 0) throw new Error(`RDP at order ${a} is ${r}; it must be >= 0`);
    let eps: number;
    if (conversion === 'classic') {
      eps = a > 1 ? r - logDelta / (a - 1) : Infinity;
    } else if (delta * delta + Math.expm1(-r) >= 0) {
      // δ >= sqrt(1 - e^{-r}) (the KL / Pinsker-style bound dp_accounting checks first): already (0, δ)-DP.
      eps = 0;
    } else if (a > 1.01) {
      // The Balle et al. bound is numerically unstable as α -> 1 and useless there anyway (dp_accounting).
      eps = r + Math.log1p(-1 / a) - (logDelta + Math.log(a)) / (a - 1);
    } else {
      eps = Infinity;
    }
    if (eps < best.epsilon) best = { epsilon: eps, order: a };
  }
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

/** One-shot: ε after `steps` rounds at sampling rate q and noise multiplier z. */
export function computeEpsilon(params: {
  samplingRate: number;
  noiseMultiplier: number;
  steps: number;
  delta: number;
  orders?: readonly number[];
  conversion?: RdpConversion;
}): PrivacySpent {
  const orders = params.orders ?? DEFAULT_RDP_ORDERS;
  const rdp = computeRdp(params.samplingRate, params.noiseMultiplier, params.steps, orders);
  return rdpToEpsilon(orders, rdp, params.delta, params.conversion);
}

/**
 * The smallest noise multiplier (to ~0.1% by bisection) that keeps ε <= the budget after `steps` rounds at
 * sampling rate q. Used to plan a run: "how much noise do I need for ε = 3 over 500 rounds?".
 */
export function calibrateNoiseMultiplier(params: {
  samplingRate: number;
  steps: number;
  budget: PrivacyBudget;
  orders?: readonly number[];
}): number {
  const { samplingRate, steps, budget } = params;
  checkBudget(budget);
  const epsAt = (z: number) =>
    computeEpsilon({ samplingRate, noiseMultiplier: z, steps, delta: budget.delta, orders: params.orders })
      .epsilon;
  let lo = 0.01;
  let hi = 1;
  while (epsAt(hi) > budget.epsilon) {
    lo = hi;
    hi *= 2;
    if (hi > 1e6) {
      throw new FedpeftError(
        'PRIVACY_BUDGET_UNREACHABLE',
        `no noise multiplier below 1e6 reaches ε = ${budget.epsilon} at δ = ${budget.delta}`,
      );
    }
  }
  while ((hi - lo) / hi > 1e-3) {
    const mid = (lo + hi) / 2;
    if (epsAt(mid) > budget.epsilon) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** A record of what was spent, so an accountant can be checkpointed and restored exactly. */
export interface RdpAccountantState {
  orders: number[];
  history: { samplingRate: number; noiseMultiplier: number; steps: number }[];
}

/**
 * Incremental accountant: the coordinator calls `step(q, z)` once per round that released a noised
 * aggregate, asks `epsilon(δ)` for reporting and `wouldExceed(budget, q, z)` before starting a round, so a
 * run stops before (not after) it overspends.
 */
export class RdpAccountant {
  readonly orders: readonly number[];
  private readonly total: Float64Array;
  private readonly history: RdpAccountantState['history'] = [];
  /** RDP of one step per (q, z): rounds almost always repeat the same mechanism. */
  private readonly cache = new Map<string, Float64Array>();

  constructor(orders: readonly number[] = DEFAULT_RDP_ORDERS) {
    checkOrders(orders);
    this.orders = Object.freeze([...orders]);
    this.total = new Float64Array(orders.length);
  }

  static fromState(state: RdpAccountantState): RdpAccountant {
    const acc = new RdpAccountant(state.orders);
    for (const h of state.history) acc.step(h.samplingRate, h.noiseMultiplier, h.steps);
    return acc;
  }

  /** Record `steps` (default 1) releases of the sampled Gaussian mechanism. */
  step(samplingRate: number, noiseMultiplier: number, steps = 1): void {
    const one = this.oneStep(samplingRate, noiseMultiplier);
    for (let k = 0; k < one.length; k++)
      this.total[k] = (this.total[k] as number) + (one[k] as number) * steps;
    const last = this.history[this.history.length - 1];
    if (last && last.samplingRate === samplingRate && last.noiseMultiplier === noiseMultiplier)
      last.steps += steps;
    else this.history.push({ samplingRate, noiseMultiplier, steps });
  }

  /** Total number of steps recorded. */
  get steps(): number {
    return this.history.reduce((s, h) => s + h.steps, 0);
  }

  /** The accumulated RDP per order (a copy). */
  rdp(): Float64Array {
    return this.total.slice();
  }

  epsilon(delta: number, conversion: RdpConversion = 'balle2020'): number {
    return this.privacySpent(delta, conversion).epsilon;
  }

  privacySpent(delta: number, conversion: RdpConversion = 'balle2020'): PrivacySpent {
    return rdpToEpsilon(this.orders, this.total, delta, conversion);
  }

  /** Whether `steps` more rounds at (q, z) would take ε past the budget. Does not change the accountant. */
  wouldExceed(budget: PrivacyBudget, samplingRate: number, noiseMultiplier: number, steps = 1): boolean {
    checkBudget(budget);
    const one = this.oneStep(samplingRate, noiseMultiplier);
    const next = new Float64Array(this.total.length);
    for (let k = 0; k < next.length; k++) next[k] = (this.total[k] as number) + (one[k] as number) * steps;
    return rdpToEpsilon(this.orders, next, budget.delta).epsilon > budget.epsilon;
  }

  state(): RdpAccountantState {
    return { orders: [...this.orders], history: this.history.map((h) => ({ ...h })) };
  }

  private oneStep(samplingRate: number, noiseMultiplier: number): Float64Array {
    const key = `${samplingRate}|${noiseMultiplier}`;
    let one = this.cache.get(key);
    if (!one) {
      one = computeRdp(samplingRate, noiseMultiplier, 1, this.orders);
      this.cache.set(key, one);
    }
    return one;
  }
}

function checkMechanism(q: number, z: number): void {
  if (!(Number.isFinite(q) && q >= 0 && q <= 1)) {
    throw new FedpeftError(
      'INVALID_PRIVACY_PARAMETER',
      `sampling rate must be in [0, 1] (expected clients per round / population), got ${q}`,
    );
  }
  if (!(Number.isFinite(z) && z >= 0)) {
    throw new FedpeftError(
      'INVALID_PRIVACY_PARAMETER',
      `noise multiplier must be a finite number >= 0 (noise std / clip norm), got ${z}`,
    );
  }
}

function checkOrders(orders: readonly number[]): void {
  if (orders.length === 0)
    throw new FedpeftError('INVALID_PRIVACY_PARAMETER', 'at least one RDP order is needed');
  for (const a of orders) {
    if (!(a > 1)) throw new FedpeftError('INVALID_PRIVACY_PARAMETER', `RDP orders must be > 1, got ${a}`);
  }
}

function checkDelta(delta: number): void {
  if (!(Number.isFinite(delta) && delta > 0 && delta < 1)) {
    throw new FedpeftError(
      'INVALID_PRIVACY_PARAMETER',
      `delta must be in (0, 1) (typically below 1 / number of clients), got ${delta}`,
    );
  }
}

function checkBudget(budget: PrivacyBudget): void {
  checkDelta(budget.delta);
  if (!(budget.epsilon >= 0)) {
    throw new FedpeftError('INVALID_PRIVACY_PARAMETER', `epsilon budget must be >= 0, got ${budget.epsilon}`);
  }
}
