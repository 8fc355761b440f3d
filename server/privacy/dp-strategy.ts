/**
 * Client-level differential privacy as a wrapper around ANY strategy (DP-FedAvg, McMahan et al. 2018, "Learning
 * Differentially Private Recurrent Language Models"; with adaptive clipping, Andrew et al. 2021):
 *
 * 1. each client's update is turned into its DELTA from the round's global and clipped to L2 norm C, so one
 *    client changes the sum of deltas by at most C (client weights are ignored: every client counts 1, or
 *    its example count would be a second, unbounded sensitivity);
 * 2. Gaussian noise of standard deviation z·C is added to the SUM;
 * 3. the noisy sum is divided by the FIXED expected number of clients m (the number sampled), not by how many
 *    actually reported. With the realized count the denominator itself depends on who took part, and the
 *    sensitivity of the mean is no longer C/m (McMahan et al. 2018, the "fixed denominator" estimator); the
 *    price is that dropouts shrink the step a little;
 * 4. the wrapped strategy receives global + that mean delta as ONE update, so its server step (FedAvg's
 *    replacement, FedAdam's adaptive step, ...) is applied to the privatized mean and nothing else.
 *
 * Accounting: the RDP accountant steps once per round with q = clients sampled / population and the noise
 * multiplier z; (ε, δ) after the round is in the outcome's metrics. A round that would take ε past the budget
 * is refused in `configureRound` with DP_BUDGET_EXHAUSTED (the coordinator ends the run with that reason).
 *
 * Placements (dp-config.ts): `central` as above; `distributed` (under secure aggregation): clients clip and
 * add N(0, (zC)²/t) themselves, the wrapper receives the secure sum (`SECURE_SUM_CLIENT_ID`) and only divides
 * by m; `local`: clients clip and add N(0, (zC)²) themselves, the wrapper averages with the fixed denominator
 * and accounts each round as the unamplified Gaussian mechanism (q = 1), the guarantee a client that takes
 * part in every round has even against the coordinator.
 *
 * Rules: weighted-mean, and PiCa's nested-prefix-mean when every client trains the full rank (an update that
 * reports trained extents is refused). Other rules are refused at configuration.
 *
 * Honest limits: the accountant assumes Poisson sampling of clients with rate q; the sampler draws a fixed-size
 * subset, for which q = k/N is the usual approximation, not a proof. Noise is floating-point Gaussian (see
 * gaussian-source.ts). `population` must be the real number of clients that could have been sampled;
 * the default (the clients connected at configuration time) is only right for a fleet that is fully online.
 */
import type { AggregationRule } from '../../shared/adapters/types.ts';
import { FedpeftError } from '../../shared/errors.ts';
import { AdaptiveClipper, adaptiveUpdateNoiseMultiplier } from '../../shared/privacy/adaptive-clipping.ts';
import { dpConfigSchema, type DpConfig, type DpConfigInput } from '../../shared/privacy/dp-config.ts';
import { addGaussianNoise, clipUpdate } from '../../shared/privacy/dp.ts';
import {
  cryptoGaussianSource,
  seededGaussianSource,
  type GaussianSource,
} from '../../shared/privacy/gaussian-source.ts';
import { RdpAccountant } from '../../shared/privacy/rdp-accountant.ts';
import { formatZodError } from '../../shared/config/format-error.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { Rng } from '../../shared/tensor/rng.ts';
import { StrategyWrapper } from '../strategies/strategy-wrapper.ts';
import type {
  AggregateContext,
  AggregateOutcome,
  ClientInstruction,
  ClientUpdate,
  ConfigureContext,
  ClientNoiseRequest,
  RoundAggregation,
  Strategy,
  StrategyState,
} from '../strategies/strategy.ts';
import { SECURE_SUM_CLIENT_ID, defaultSecAggThreshold } from './secure-sum.ts';

export interface DpStrategyOptions {
  config: DpConfigInput;
  /** N, the clients a round samples from. Default: the candidates offered to `configureRound`. */
  population?: number;
  /** δ at which ε is reported when no budget is set. Default 1e-5. */
  reportDelta?: number;
  /** Seed of the noise when `config.noiseSource` is `seeded` (simulations and tests only). Default 0. */
  seed?: number;
  /** Overrides the noise source (tests). */
  source?: GaussianSource;
  /** Distributed placement: survivors the noise is planned for. Default: the secure-aggregation threshold. */
  minClients?: (sampled: number) => number;
}

interface RoundPlan {
  samplingRate: number;
  /** m: the fixed denominator. */
  expectedClients: number;
  clipNorm: number;
}

export class DifferentiallyPrivate extends StrategyWrapper {
  protected readonly wrapperName = 'dp';
  readonly config: DpConfig;
  /** A fixed source (crypto, or injected); seeded noise is instead drawn per round (`sourceFor`). */
  private readonly source: GaussianSource | undefined;
  private readonly seed: number;
  private readonly population: number | undefined;
  private readonly reportDelta: number;
  private readonly minClients: (sampled: number) => number;
  private accountant = new RdpAccountant();
  private clipper: AdaptiveClipper | undefined;
  private readonly plans = new Map<number, RoundPlan>();
  private lastPlan: RoundPlan | undefined;

  constructor(inner: Strategy, options: DpStrategyOptions) {
    super(inner);
    const parsed = dpConfigSchema.safeParse(options.config);
    if (!parsed.success) {
      throw new FedpeftError('INVALID_DP_CONFIG', `dp config is invalid:\n${formatZodError(parsed.error)}`);
    }
    this.config = parsed.data;
    if (this.config.adaptiveClipping && this.config.placement !== 'central') {
      throw new FedpeftError(
        'INVALID_DP_CONFIG',
        `adaptive clipping needs the clients' clipping indicators in the clear; it is supported with placement central only (got ${this.config.placement})`,
      );
    }
    this.seed = options.seed ?? 0;
    this.source =
      options.source ?? (this.config.noiseSource === 'seeded' ? undefined : cryptoGaussianSource());
    if (
      options.population !== undefined &&
      !(Number.isInteger(options.population) && options.population >= 1)
    ) {
      throw new FedpeftError(
        'INVALID_DP_CONFIG',
        `population must be an integer >= 1, got ${options.population}`,
      );
    }
    this.population = options.population;
    this.reportDelta = options.reportDelta ?? this.config.budget?.delta ?? 1e-5;
    this.minClients = options.minClients ?? defaultSecAggThreshold;
  }

  get placement(): DpConfig['placement'] {
    return this.config.placement;
  }

  /** True when the wrapper must see every client's update (it clips them): not possible under secure aggregation. */
  get needsIndividualUpdates(): boolean {
    return this.config.placement === 'central';
  }

  /** The clip norm the next round uses (moves with adaptive clipping). */
  get clipNorm(): number {
    return this.clipper?.clipNorm ?? this.config.clipNorm;
  }

  /** ε spent so far at the reporting δ. */
  get epsilon(): number {
    return this.accountant.steps === 0 ? 0 : this.accountant.epsilon(this.reportDelta);
  }

  override checkRules(rules: ReadonlyMap<string, AggregationRule>): void {
    this.inner.checkRules(rules);
    for (const [name, rule] of rules) {
      if (rule.kind !== 'weighted-mean' && rule.kind !== 'nested-prefix-mean') {
        throw new FedpeftError(
          'STRATEGY_UNSUPPORTED_RULE',
          `differential privacy clips and noises the mean of same-shape deltas; tensor "${name}" uses rule ${rule.kind}, ` +
            'which is not a weighted mean (use a single-factor method such as PiCa, cLA or FFA-LoRA)',
        );
      }
    }
  }

  override configureRound(context: ConfigureContext): ClientInstruction[] {
    const instructions = this.inner.configureRound(context);
    const sampled = instructions.length;
    const population = this.population ?? context.clients.length;
    if (sampled > population) {
      throw new FedpeftError(
        'INVALID_DP_CONFIG',
        `round ${context.round} samples ${sampled} clients from a population of ${population}; set dp population to the real number of clients`,
      );
    }
    const samplingRate = this.config.placement === 'local' ? 1 : sampled / population;
    const z = this.config.noiseMultiplier;
    const budget = this.config.budget;
    if (budget && this.accountant.wouldExceed(budget, samplingRate, z)) {
      const after = new RdpAccountant();
      for (const h of this.accountant.state().history) after.step(h.samplingRate, h.noiseMultiplier, h.steps);
      after.step(samplingRate, z);
      throw new FedpeftError(
        'DP_BUDGET_EXHAUSTED',
        `privacy budget reached: round ${context.round} would raise ε from ${this.epsilonAt(budget.delta).toFixed(4)} ` +
          `to ${after.epsilon(budget.delta).toFixed(4)} > budget ${budget.epsilon} (δ = ${budget.delta}, q = ${samplingRate.toFixed(4)}, z = ${z}); the run stops here`,
      );
    }
    this.ensureClipper(sampled);
    const plan: RoundPlan = { samplingRate, expectedClients: sampled, clipNorm: this.clipNorm };
    this.plans.set(context.round, plan);
    this.lastPlan = plan;
    // Sent as the typed RoundInstruction.client_noise (not hyperparams_json keys).
    const clientNoise = this.clientRequest(plan);
    return instructions.map((i) => ({ ...i, clientNoise }));
  }

  override beginAggregation(context: AggregateContext): RoundAggregation {
    this.checkRules(context.rules);
    const plan = this.plans.get(context.round) ?? this.lastPlan;
    if (!plan) {
      throw new FedpeftError(
        'DP_ROUND_NOT_CONFIGURED',
        `round ${context.round} was not configured through the DP wrapper (configureRound), so its sampling rate is unknown`,
      );
    }
    const inner = this.inner.beginAggregation(context);
    const sum = new DeltaSum(context.global);
    const contributors: string[] = [];
    let clippedClients = 0;
    let indicatorSum = 0;
    let clients = 0;
    let finished = false;
    const placement = this.config.placement;
    const source = this.sourceFor(context.round);

    const add = (update: ClientUpdate): void => {
      if (finished)
        throw new FedpeftError('STRATEGY_ROUND_CLOSED', `round ${context.round} is already closed`);
      if (contributors.includes(update.clientId)) {
        throw new FedpeftError(
          'AGGREGATION_DUPLICATE_CLIENT',
          `client "${update.clientId}" already contributed`,
        );
      }
      const delta = sum.deltaOf(update);
      if (placement === 'distributed') {
        // The secure sum's mean times its weight (= number of clients, each weighing 1) is the noisy sum.
        if (update.clientId !== SECURE_SUM_CLIENT_ID || clients > 0) {
          throw new FedpeftError(
            'DP_NEEDS_SECURE_SUM',
            'distributed DP noise only protects anything under secure aggregation: this round accepts one securely aggregated sum, not individual updates',
          );
        }
        const count = Math.round(update.weight);
        if (!(count >= 1 && Math.abs(update.weight - count) < 1e-6)) {
          throw new FedpeftError(
            'DP_NEEDS_SECURE_SUM',
            `the secure sum's total weight ${update.weight} is not a client count: with DP every client must use weight 1`,
          );
        }
        sum.add(delta, count);
        clients = count;
      } else if (placement === 'local') {
        sum.add(delta, 1);
        clients += 1;
      } else {
        const clip = clipUpdate(delta, plan.clipNorm);
        if (clip.clipped) clippedClients += 1;
        indicatorSum += AdaptiveClipper.indicator(clip.norm, plan.clipNorm);
        sum.add(clip.update, 1);
        clients += 1;
      }
      contributors.push(update.clientId);
    };

    const finish = (): AggregateOutcome => {
      if (finished)
        throw new FedpeftError('STRATEGY_ROUND_CLOSED', `round ${context.round} is already closed`);
      if (clients === 0) {
        throw new FedpeftError(
          'AGGREGATION_EMPTY',
          `round ${context.round} closed without any accepted update`,
        );
      }
      let noisy = sum.result();
      let noiseStd = 0;
      if (placement === 'central') {
        noiseStd = this.updateNoiseMultiplier() * plan.clipNorm;
        noisy = addGaussianNoise(noisy, noiseStd, source);
      }
      const meanUpdate = sum.globalPlus(noisy, 1 / plan.expectedClients);
      inner.add({ clientId: 'dp:privatized-mean', weight: 1, tensors: meanUpdate });
      const outcome = inner.finish();
      finished = true;
      this.accountant.step(plan.samplingRate, this.config.noiseMultiplier);
      this.plans.delete(context.round);
      const metrics: Record<string, number> = {
        ...outcome.metrics,
        clients,
        dpEpsilon: this.accountant.epsilon(this.reportDelta),
        dpDelta: this.reportDelta,
        dpSamplingRate: plan.samplingRate,
        dpNoiseMultiplier: this.config.noiseMultiplier,
        dpClipNorm: plan.clipNorm,
        dpExpectedClients: plan.expectedClients,
      };
      if (placement === 'central') {
        metrics.dpNoiseStd = noiseStd;
        metrics.dpClippedClients = clippedClients;
      }
      if (this.clipper) {
        const moved = this.clipper.update(indicatorSum, source);
        metrics.dpUnclippedFraction = moved.unclippedFraction;
        metrics.dpNextClipNorm = moved.clipNorm;
      }
      return { global: outcome.global, contributors: [...contributors], totalWeight: clients, metrics };
    };

    return {
      get count() {
        return clients;
      },
      add,
      finish,
    };
  }

  protected override exportOwnState(): Omit<StrategyState, 'strategy' | 'inner'> {
    const values: Record<string, number> = {};
    const history = this.accountant.state().history;
    values['accountant.entries'] = history.length;
    history.forEach((h, i) => {
      values[`accountant.${i}.samplingRate`] = h.samplingRate;
      values[`accountant.${i}.noiseMultiplier`] = h.noiseMultiplier;
      values[`accountant.${i}.steps`] = h.steps;
    });
    if (this.clipper) {
      values['adaptive.clipNorm'] = this.clipper.clipNorm;
      values['adaptive.expectedClients'] = this.clipper.expectedClients;
    }
    if (this.lastPlan) {
      values['lastPlan.samplingRate'] = this.lastPlan.samplingRate;
      values['lastPlan.expectedClients'] = this.lastPlan.expectedClients;
      values['lastPlan.clipNorm'] = this.lastPlan.clipNorm;
    }
    return { tensors: new Map(), values };
  }

  protected override importOwnState(state: StrategyState): void {
    const v = state.values;
    const entries = v['accountant.entries'] ?? 0;
    const accountant = new RdpAccountant();
    for (let i = 0; i < entries; i++) {
      const q = v[`accountant.${i}.samplingRate`];
      const z = v[`accountant.${i}.noiseMultiplier`];
      const steps = v[`accountant.${i}.steps`];
      if (q === undefined || z === undefined || steps === undefined) {
        throw new FedpeftError('STRATEGY_STATE_MISMATCH', `the DP checkpoint lacks accountant entry ${i}`);
      }
      accountant.step(q, z, steps);
    }
    this.accountant = accountant;
    const clip = v['adaptive.clipNorm'];
    const m = v['adaptive.expectedClients'];
    this.clipper = undefined;
    if (this.config.adaptiveClipping && clip !== undefined && m !== undefined) {
      this.clipper = this.makeClipper(m, clip);
    }
    const q = v['lastPlan.samplingRate'];
    const expected = v['lastPlan.expectedClients'];
    const planClip = v['lastPlan.clipNorm'];
    this.lastPlan =
      q !== undefined && expected !== undefined && planClip !== undefined
        ? { samplingRate: q, expectedClients: expected, clipNorm: planClip }
        : undefined;
  }

  /**
   * Seeded noise is forked per round from (seed, round), so a simulation restarted from a checkpoint draws the
   * same noise as one that never stopped.
   */
  private sourceFor(round: number): GaussianSource {
    return this.source ?? seededGaussianSource(new Rng(this.seed).fork(`dp-noise/round-${round}`));
  }

  private epsilonAt(delta: number): number {
    return this.accountant.steps === 0 ? 0 : this.accountant.epsilon(delta);
  }

  /** With adaptive clipping the count query spends part of z, so the updates need a larger multiplier. */
  private updateNoiseMultiplier(): number {
    const z = this.config.noiseMultiplier;
    return this.clipper ? adaptiveUpdateNoiseMultiplier(z, this.clipper.countNoiseStd) : z;
  }

  private ensureClipper(expectedClients: number): void {
    if (!this.config.adaptiveClipping || this.clipper) return;
    this.clipper = this.makeClipper(expectedClients, this.config.clipNorm);
    // Fail at configuration, not at the end of the round, if σ_b leaves nothing for the updates.
    this.updateNoiseMultiplier();
  }

  private makeClipper(expectedClients: number, clipNorm: number): AdaptiveClipper {
    const a = this.config.adaptiveClipping!;
    return new AdaptiveClipper({
      initialClipNorm: clipNorm,
      targetQuantile: a.targetQuantile,
      learningRate: a.learningRate,
      expectedClients,
      ...(a.countNoiseStd !== undefined ? { countNoiseStd: a.countNoiseStd } : {}),
    });
  }

  private clientRequest(plan: RoundPlan): ClientNoiseRequest {
    const z = this.config.noiseMultiplier;
    const C = plan.clipNorm;
    switch (this.config.placement) {
      case 'central':
        return { placement: 'central', clipNorm: C, noiseStd: 0 };
      case 'local':
        return { placement: 'local', clipNorm: C, noiseStd: z * C };
      case 'distributed': {
        const t = this.minClients(plan.expectedClients);
        return { placement: 'distributed', clipNorm: C, noiseStd: (z * C) / Math.sqrt(t) };
      }
    }
  }
}

/** Functional form, Flower style: `DifferentiallyPrivate(new FedAdam(...), { config })`. */
export function differentiallyPrivate(inner: Strategy, options: DpStrategyOptions): DifferentiallyPrivate {
  return new DifferentiallyPrivate(inner, options);
}

/** A float64 running sum of deltas from the round's global, validated against the global's tensors. */
class DeltaSum {
  private readonly acc = new Map<string, Float64Array>();

  constructor(private readonly global: HostTensorMap) {
    for (const [name, t] of global) this.acc.set(name, new Float64Array(t.data.length));
  }

  /** update - global; rejects missing, extra, mis-shaped or non-finite tensors and a bad weight. */
  deltaOf(update: ClientUpdate): HostTensorMap {
    if (!(Number.isFinite(update.weight) && update.weight > 0)) {
      throw new FedpeftError(
        'AGGREGATION_INVALID_WEIGHT',
        `client "${update.clientId}" sent weight ${update.weight}`,
      );
    }
    if (update.trainedExtents && update.trainedExtents.size > 0) {
      // A nested-rank client's untrained rows would enter the fixed-denominator mean as zeros.
      throw new FedpeftError(
        'DP_NESTED_RANKS_UNSUPPORTED',
        `client "${update.clientId}" trained only a prefix of the shared tensors; with DP every client trains the full rank`,
      );
    }
    if (update.tensors.size !== this.global.size) {
      throw new FedpeftError(
        'AGGREGATION_SHAPE_MISMATCH',
        `client "${update.clientId}" sent ${update.tensors.size} tensors; the shared state has ${this.global.size} (${[...this.global.keys()].join(', ')})`,
      );
    }
    const out: HostTensorMap = new Map();
    for (const [name, g] of this.global) {
      const t = update.tensors.get(name);
      if (!t || t.data.length !== g.data.length || t.shape.some((d, i) => d !== g.shape[i])) {
        throw new FedpeftError(
          'AGGREGATION_SHAPE_MISMATCH',
          `client "${update.clientId}": tensor "${name}" is missing or not of shape ${JSON.stringify(g.shape)}`,
        );
      }
      const data = new Float32Array(g.data.length);
      for (let i = 0; i < data.length; i++) {
        const v = t.data[i] as number;
        if (!Number.isFinite(v)) {
          throw new FedpeftError('NON_FINITE', `client "${update.clientId}": tensor "${name}"[${i}] is ${v}`);
        }
        data[i] = v - (g.data[i] as number);
      }
      out.set(name, { shape: [...g.shape], data });
    }
    return out;
  }

  add(delta: HostTensorMap, factor: number): void {
    for (const [name, d] of delta) {
      const acc = this.acc.get(name) as Float64Array;
      for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] as number) + factor * (d.data[i] as number);
    }
  }

  result(): HostTensorMap {
    const out: HostTensorMap = new Map();
    for (const [name, acc] of this.acc) {
      out.set(name, { shape: [...(this.global.get(name)?.shape ?? [])], data: Float32Array.from(acc) });
    }
    return out;
  }

  /** global + factor · sum, in float64 before one rounding. */
  globalPlus(sum: HostTensorMap, factor: number): HostTensorMap {
    const out: HostTensorMap = new Map();
    for (const [name, g] of this.global) {
      const s = sum.get(name)?.data as Float32Array;
      const data = new Float32Array(g.data.length);
      for (let i = 0; i < data.length; i++) data[i] = (g.data[i] as number) + factor * (s[i] as number);
      out.set(name, { shape: [...g.shape], data });
    }
    return out;
  }
}
