import { describe, expect, it } from 'vitest';
import { computeEpsilon } from '../../shared/privacy/rdp-accountant.ts';
import { seededGaussianSource } from '../../shared/privacy/gaussian-source.ts';
import { ksCritical, ksDistanceToNormal, sampleStd } from '../../shared/privacy/test-stats.ts';
import type { HostTensor, HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { Rng } from '../../shared/tensor/rng.ts';
import { FedAdam } from '../strategies/fedadam.ts';
import { FedAvg } from '../strategies/fedavg.ts';
import { aggregate, type ClientUpdate, type Strategy } from '../strategies/strategy.ts';
import {
  everyClientSampler,
  hostTensor,
  restartScenario,
  singleMeanRule,
} from '../strategies/test-fixtures.ts';
import { ClientSampler, samplingSchema } from '../strategies/client-sampler.ts';
import { DifferentiallyPrivate, type DpStrategyOptions } from './dp-strategy.ts';
import { SECURE_SUM_CLIENT_ID } from './secure-sum.ts';

const adamHyper = { serverLearningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.01 };
const clients = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `c${i}` }));
const B = (t: HostTensorMap) => (t.get('B') as HostTensor).data;

function update(id: string, values: ArrayLike<number>, weight = 1): ClientUpdate {
  return { clientId: id, weight, tensors: new Map([['B', hostTensor([values.length], Array.from(values))]]) };
}

/** One configured + aggregated round; returns the outcome. */
function round(
  strategy: Strategy,
  r: number,
  global: HostTensorMap,
  updates: ClientUpdate[],
  population: number,
) {
  strategy.configureRound({ round: r, clients: clients(population) });
  return aggregate(strategy, { round: r, global, rules: singleMeanRule }, updates);
}

const dp = (inner: Strategy, config: DpStrategyOptions['config'], extra: Partial<DpStrategyOptions> = {}) =>
  new DifferentiallyPrivate(inner, { config: { noiseSource: 'seeded', ...config }, seed: 7, ...extra });

describe('DifferentiallyPrivate', () => {
  it('adds noise of std z*C to the SUM, then divides by the fixed expected count (statistical, FedAvg)', () => {
    const size = 40_000;
    const z = 1.3;
    const C = 0.5;
    const m = 4;
    const w = dp(new FedAvg(everyClientSampler()), { noiseMultiplier: z, clipNorm: C });
    const global = new Map([['B', hostTensor([size], new Array(size).fill(0.25))]]);
    // Clients send exactly the global: the deltas are zero, so global' - global is noise / m alone.
    const zeros = Array.from({ length: 3 }, (_, i) => update(`c${i}`, B(global)));
    const outcome = round(w, 1, global, zeros, m);
    expect(w.name).toBe('dp(fedavg)');
    const noise = Float64Array.from(B(outcome.global), (v, i) => (v - (B(global)[i] as number)) * m);
    const std = sampleStd(noise);
    // Sample std of 40k normals is within ~1% (4 sigma ~ 1.4%) of the true std.
    expect(Math.abs(std / (z * C) - 1)).toBeLessThan(0.02);
    expect(ksDistanceToNormal(noise, z * C)).toBeLessThan(ksCritical(size, 0.001));
    // A variance in place of the std (DISCO's bug) would give (zC)^2 = 0.4225, not 0.65.
    expect(Math.abs(std - (z * C) ** 2)).toBeGreaterThan(0.1);
    expect(outcome.metrics.dpNoiseStd).toBeCloseTo(z * C, 12);
    // The denominator is the 4 sampled clients, not the 3 that reported.
    expect(outcome.metrics.dpExpectedClients).toBe(4);
    expect(outcome.metrics.clients).toBe(3);
  });

  it('clips every update delta to C and averages with the fixed denominator', () => {
    const C = 1;
    const w = dp(new FedAvg(everyClientSampler()), { noiseMultiplier: 1e-9, clipNorm: C });
    const global = new Map([['B', hostTensor([2], [1, -2])]]);
    const ups = [
      update('c0', [1 + 30, -2 + 40]),
      update('c1', [1 + 0.3, -2 + 0.4]),
      update('c2', [1, -2 - 5]),
    ];
    const outcome = round(w, 1, global, ups, 3);
    // Clipped deltas: [0.6, 0.8] (norm 50 -> 1), [0.3, 0.4] (norm 0.5, kept), [0, -1] (norm 5 -> 1).
    const expected = [1 + (0.6 + 0.3 + 0) / 3, -2 + (0.8 + 0.4 - 1) / 3];
    expect(B(outcome.global)[0]).toBeCloseTo(expected[0] as number, 5);
    expect(B(outcome.global)[1]).toBeCloseTo(expected[1] as number, 5);
    expect(outcome.metrics.dpClippedClients).toBe(2);
    expect(outcome.contributors).toEqual(['c0', 'c1', 'c2']);
  });

  it('around FedAdam: the server step sees exactly the noised, clipped mean delta', () => {
    const config = { noiseMultiplier: 0.8, clipNorm: 0.5 } as const;
    const wrapped = dp(new FedAdam(everyClientSampler(), adamHyper), config, {
      source: seededGaussianSource(new Rng(3).fork('noise')),
    });
    const global = new Map([['B', hostTensor([2], [1, -2])]]);
    const ups = [update('c0', [2, -2]), update('c1', [1, 0])];
    const viaDp = round(wrapped, 1, global, ups, 5);
    expect(wrapped.name).toBe('dp(fedadam)');
    // By hand: clipped deltas [0.5, 0] and [0, 0.5]; sum + the same noise draws; divide by the 5 sampled.
    const noise = seededGaussianSource(new Rng(3).fork('noise'));
    const sum = [0.5 + 0.4 * noise.normal(), 0.5 + 0.4 * noise.normal()];
    const mean = [1 + (sum[0] as number) / 5, -2 + (sum[1] as number) / 5];
    const plain = aggregate(
      new FedAdam(everyClientSampler(), adamHyper),
      { round: 1, global, rules: singleMeanRule },
      [update('x', mean)],
    );
    expect(Array.from(B(viaDp.global))).toEqual(Array.from(B(plain.global)));
  });

  it('reports epsilon after every round matching computeEpsilon(q, z, T), and stops at the budget', () => {
    const z = 1.1;
    const population = 20;
    const sampler = new ClientSampler(samplingSchema.parse({ fraction: 0.25 }), 1);
    const budgetEps = computeEpsilon({
      samplingRate: 5 / 20,
      noiseMultiplier: z,
      steps: 4,
      delta: 1e-5,
    }).epsilon;
    const w = dp(new FedAvg(sampler), {
      noiseMultiplier: z,
      clipNorm: 1,
      budget: { epsilon: budgetEps * 1.0001, delta: 1e-5 },
    });
    let global: HostTensorMap = new Map([['B', hostTensor([2], [0, 0])]]);
    for (let r = 1; r <= 4; r++) {
      const instr = w.configureRound({ round: r, clients: clients(population) });
      expect(instr).toHaveLength(5);
      expect(instr[0]?.clientNoise).toEqual({ placement: 'central', clipNorm: 1, noiseStd: 0 });
      const ups = instr.map((i) => update(i.clientId, [0.1, 0.2]));
      const outcome = aggregate(w, { round: r, global, rules: singleMeanRule }, ups);
      global = outcome.global;
      const reference = computeEpsilon({
        samplingRate: 0.25,
        noiseMultiplier: z,
        steps: r,
        delta: 1e-5,
      }).epsilon;
      expect(outcome.metrics.dpEpsilon).toBeCloseTo(reference, 10);
      expect(outcome.metrics.dpSamplingRate).toBe(0.25);
    }
    expect(() => w.configureRound({ round: 5, clients: clients(population) })).toThrow(
      expect.objectContaining({ code: 'DP_BUDGET_EXHAUSTED', message: expect.stringMatching(/budget/) }),
    );
  });

  it('exports the accountant and the adaptive clip norm, and a restart continues identically', () => {
    const make = () =>
      dp(new FedAdam(everyClientSampler(), adamHyper), {
        noiseMultiplier: 0.3,
        clipNorm: 1,
        adaptiveClipping: { targetQuantile: 0.5, learningRate: 0.2, countNoiseStd: 1 },
      });
    // restartScenario runs aggregate() without configureRound: configure each round first.
    const configured = () => {
      const s = make();
      const begin = s.beginAggregation.bind(s);
      s.beginAggregation = (ctx) => {
        s.configureRound({ round: ctx.round, clients: clients(2) });
        return begin(ctx);
      };
      return s;
    };
    const { continuous, restarted } = restartScenario(configured);
    expect(restarted).toEqual(continuous);
    const s = configured();
    const global = new Map([['B', hostTensor([2], [0, 0])]]);
    aggregate(s, { round: 1, global, rules: singleMeanRule }, [update('c0', [3, 4]), update('c1', [3, 4])]);
    const state = s.exportState();
    expect(state.strategy).toBe('dp(fedadam)');
    expect(state.values['accountant.entries']).toBe(1);
    // Both updates (norm 5) were clipped, so the clip norm grew: exp(-0.2 (b - 0.5)) with b ~ 0 (noisy).
    expect(state.values['adaptive.clipNorm']).not.toBe(1);
    const fresh = make();
    fresh.importState(state);
    expect(fresh.exportState()).toEqual(state);
    expect(fresh.epsilon).toBeCloseTo(s.epsilon, 12);
    expect(fresh.clipNorm).toBe(s.clipNorm);
  });

  it('distributed placement: accepts only one secure sum, divides it by the fixed count, asks clients for zC/sqrt(t)', () => {
    const w = dp(new FedAvg(everyClientSampler()), {
      placement: 'distributed',
      noiseMultiplier: 2,
      clipNorm: 0.5,
    });
    const instr = w.configureRound({ round: 1, clients: clients(5) });
    // t = 3 of 5: each client adds std 2 * 0.5 / sqrt(3).
    expect(instr[0]?.clientNoise).toMatchObject({ placement: 'distributed', clipNorm: 0.5 });
    expect(instr[0]?.clientNoise?.noiseStd).toBeCloseTo(1 / Math.sqrt(3), 12);
    const global = new Map([['B', hostTensor([2], [1, 1])]]);
    const agg = w.beginAggregation({ round: 1, global, rules: singleMeanRule });
    expect(() => agg.add(update('c0', [1, 1]))).toThrow(
      expect.objectContaining({ code: 'DP_NEEDS_SECURE_SUM' }),
    );
    // 4 clients reported, their mean delta is [0.2, -0.1]; the sum is [0.8, -0.4], divided by 5 sampled.
    agg.add(update(SECURE_SUM_CLIENT_ID, [1.2, 0.9], 4));
    const outcome = agg.finish();
    expect(B(outcome.global)[0]).toBeCloseTo(1 + 0.8 / 5, 6);
    expect(B(outcome.global)[1]).toBeCloseTo(1 - 0.4 / 5, 6);
    expect(outcome.metrics.dpEpsilon).toBeCloseTo(
      computeEpsilon({ samplingRate: 1, noiseMultiplier: 2, steps: 1, delta: 1e-5 }).epsilon,
      10,
    );
  });

  it('refuses rules that are not plain weighted means, and adaptive clipping outside central placement', () => {
    const w = dp(new FedAvg(everyClientSampler()), { noiseMultiplier: 1, clipNorm: 1 });
    expect(() => w.checkRules(new Map([['A', { kind: 'nested-prefix-mean', axis: 0 }]]))).not.toThrow();
    expect(() => w.checkRules(new Map([['A', { kind: 'stack', axis: 0, scaleByWeight: true }]]))).toThrow(
      expect.objectContaining({ code: 'STRATEGY_UNSUPPORTED_RULE' }),
    );
    expect(() =>
      dp(new FedAvg(everyClientSampler()), {
        placement: 'local',
        noiseMultiplier: 1,
        clipNorm: 1,
        adaptiveClipping: {},
      }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_DP_CONFIG' }));
    expect(() => dp(new FedAvg(everyClientSampler()), { noiseMultiplier: -1, clipNorm: 1 })).toThrow(
      /noiseMultiplier/,
    );
  });
});
