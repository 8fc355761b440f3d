import { describe, expect, it } from 'vitest';
import type { AggregationRule } from '../../shared/adapters/types.ts';
import { FedpeftError } from '../../shared/errors.ts';
import type { HostTensor, HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { Rng } from '../../shared/tensor/rng.ts';
import { ClientSampler, samplingSchema } from './client-sampler.ts';
import { FedAvg } from './fedavg.ts';
import { aggregate, type ClientUpdate } from './strategy.ts';

const t = (shape: number[], values: number[]): HostTensor => ({ shape, data: Float32Array.from(values) });
const sampler = () => new ClientSampler(samplingSchema.parse({}), 1);
const meanRules = new Map<string, AggregationRule>([
  ['q.B', { kind: 'weighted-mean' }],
  ['v.B', { kind: 'weighted-mean' }],
]);

describe('FedAvg', () => {
  it('equals the offline weighted mean of the clients (30 clients, 2 tensors)', () => {
    const rng = new Rng(5);
    const global: HostTensorMap = new Map([
      ['q.B', t([4, 8], new Array(32).fill(0))],
      ['v.B', t([4, 3], new Array(12).fill(0))],
      ['head', t([2], [9, 9])], // not aggregated this round: carried over
    ]);
    const updates: ClientUpdate[] = Array.from({ length: 30 }, (_, k) => ({
      clientId: `c${k}`,
      weight: 1 + rng.int(200),
      tensors: new Map([
        ['q.B', t([4, 8], [...rng.normalArray(32)])],
        ['v.B', t([4, 3], [...rng.normalArray(12)])],
      ]),
    }));
    const outcome = aggregate(new FedAvg(sampler()), { round: 1, global, rules: meanRules }, updates);
    const W = updates.reduce((s, u) => s + u.weight, 0);
    for (const name of ['q.B', 'v.B']) {
      const got = outcome.global.get(name) as HostTensor;
      got.data.forEach((v, i) => {
        const expected =
          updates.reduce(
            (s, u) => s + u.weight * ((u.tensors.get(name) as HostTensor).data[i] as number),
            0,
          ) / W;
        expect(v).toBeCloseTo(expected, 6);
      });
    }
    expect(outcome.global.get('head')).toEqual(t([2], [9, 9]));
    expect(outcome.totalWeight).toBe(W);
    expect(outcome.contributors).toHaveLength(30);
    expect(outcome.metrics.clients).toBe(30);
  });

  it("applies the method's rules (FLoRA stacking grows the rank, nested prefix keeps untrained rows)", () => {
    const rules = new Map<string, AggregationRule>([
      ['A', { kind: 'stack', axis: 1, scaleByWeight: true }],
      ['B', { kind: 'stack', axis: 0, scaleByWeight: false }],
      ['P', { kind: 'nested-prefix-mean', axis: 0 }],
    ]);
    const global = new Map([['P', t([2, 1], [5, 6])]]);
    const outcome = aggregate(new FedAvg(sampler()), { round: 1, global, rules }, [
      {
        clientId: 'a',
        weight: 1,
        tensors: new Map([
          ['A', t([2, 1], [1, 1])],
          ['B', t([1, 2], [1, 0])],
          ['P', t([1, 1], [1])],
        ]),
      },
      {
        clientId: 'b',
        weight: 3,
        tensors: new Map([
          ['A', t([2, 2], [1, 2, 3, 4])],
          ['B', t([2, 2], [0, 1, 1, 0])],
          ['P', t([1, 1], [3])],
        ]),
      },
    ]);
    expect(outcome.global.get('A')).toEqual(t([2, 3], [0.25, 0.75, 1.5, 0.25, 2.25, 3]));
    expect(outcome.global.get('B')?.shape).toEqual([3, 2]);
    expect(outcome.global.get('P')).toEqual(t([2, 1], [2.5, 6]));
  });

  it('rejects local-only tensors at configuration time and bad updates without spoiling the round', () => {
    const strategy = new FedAvg(sampler());
    expect(() => strategy.checkRules(new Map([['B', { kind: 'local-only' }]]))).toThrow(/local-only/);
    const global = new Map([
      ['q.B', t([2], [0, 0])],
      ['v.B', t([2], [0, 0])],
    ]);
    const round = strategy.beginAggregation({ round: 2, global, rules: meanRules });
    round.add({
      clientId: 'a',
      weight: 1,
      tensors: new Map([
        ['q.B', t([2], [2, 2])],
        ['v.B', t([2], [4, 4])],
      ]),
    });
    expect(() =>
      round.add({
        clientId: 'b',
        weight: 1,
        tensors: new Map([
          ['q.B', t([2], [100, 100])],
          ['v.B', t([2], [Infinity, 0])],
        ]),
      }),
    ).toThrow(FedpeftError);
    expect(round.count).toBe(1);
    const outcome = round.finish();
    expect(outcome.global.get('q.B')).toEqual(t([2], [2, 2]));
    expect(() => round.finish()).toThrow(/already closed/);
    expect(() => round.add({ clientId: 'c', weight: 1, tensors: new Map() })).toThrow(/already closed/);
    expect(() => strategy.beginAggregation({ round: 3, global, rules: meanRules }).finish()).toThrow(
      /without any accepted update/,
    );
  });

  it('configures every sampled client with the round id', () => {
    const instructions = new FedAvg(sampler()).configureRound({
      round: 7,
      clients: [{ id: 'x' }, { id: 'y', eligible: false }],
    });
    expect(instructions).toEqual([{ clientId: 'x', round: 7 }]);
  });
});
