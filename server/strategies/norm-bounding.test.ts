import { describe, expect, it } from 'vitest';
import type { AggregationRule } from '../../shared/adapters/types.ts';
import type { HostTensor } from '../../shared/tensor/host-tensor.ts';
import { FedAvg } from './fedavg.ts';
import { NormBounding } from './norm-bounding.ts';
import { aggregate } from './strategy.ts';
import { hostTensor, everyClientSampler } from './test-fixtures.ts';

const rules = new Map<string, AggregationRule>([
  ['q', { kind: 'weighted-mean' }],
  ['v', { kind: 'weighted-mean' }],
]);
const global = new Map([
  ['q', hostTensor([2], [1, 1])],
  ['v', hostTensor([1], [0])],
]);
const update = (id: string, q: number[], v: number[], weight = 1) => ({
  clientId: id,
  weight,
  tensors: new Map([
    ['q', hostTensor([2], q)],
    ['v', hostTensor([1], v)],
  ]),
});

describe('NormBounding', () => {
  it('clips each client update delta (over all its tensors) to maxNorm before averaging', () => {
    // Attacker delta (3, 0 | 4) has norm 5 -> scaled by 2/5 to (1.2, 0 | 1.6). Honest delta (0.1, -0.1 | 0) is kept.
    const outcome = aggregate(new NormBounding(everyClientSampler(), 2), { round: 1, global, rules }, [
      update('attacker', [4, 1], [4]),
      update('honest', [1.1, 0.9], [0]),
    ]);
    const q = [...(outcome.global.get('q') as HostTensor).data];
    const v = [...(outcome.global.get('v') as HostTensor).data];
    [1 + (1.2 + 0.1) / 2, 1 + (0 - 0.1) / 2].forEach((e, i) => expect(q[i]).toBeCloseTo(e, 6));
    expect(v[0]).toBeCloseTo(0.8, 6);
    expect(outcome.metrics.clippedClients).toBe(1);
    expect(outcome.metrics.maxUpdateNorm).toBeCloseTo(5, 6);
  });

  it("bounds any single client's influence on the global by p_k * maxNorm", () => {
    const honest = [update('a', [1, 1], [0]), update('b', [1, 1], [0]), update('c', [1, 1], [0])];
    for (const scale of [1e2, 1e6]) {
      const attacked = [...honest, update('evil', [1 + scale, 1 - scale], [scale])];
      const bounded = aggregate(
        new NormBounding(everyClientSampler(), 0.5),
        { round: 1, global, rules },
        attacked,
      );
      const plain = aggregate(new FedAvg(everyClientSampler()), { round: 1, global, rules }, attacked);
      const shift = (g: typeof bounded.global) =>
        Math.hypot(
          ((g.get('q') as HostTensor).data[0] as number) - 1,
          ((g.get('q') as HostTensor).data[1] as number) - 1,
          (g.get('v') as HostTensor).data[0] as number,
        );
      expect(shift(bounded.global)).toBeLessThanOrEqual(0.25 * 0.5 * (1 + 1e-6));
      expect(shift(bounded.global)).toBeGreaterThan(0.25 * 0.5 * 0.99);
      expect(shift(plain.global)).toBeGreaterThan(10);
    }
  });

  it('clips only the trained prefix of a nested-rank update', () => {
    const nested = new Map<string, AggregationRule>([['B', { kind: 'nested-prefix-mean', axis: 0 }]]);
    const g = new Map([['B', hostTensor([2, 1], [0, 7])]]);
    const outcome = aggregate(
      new NormBounding(everyClientSampler(), 1),
      { round: 1, global: g, rules: nested },
      [
        // Sends the full tensor but trained only row 0: row 1 (1000) is neither clipped-in nor averaged.
        {
          clientId: 'a',
          weight: 1,
          tensors: new Map([['B', hostTensor([2, 1], [3, 1000])]]),
          trainedExtents: new Map([['B', 1]]),
        },
      ],
    );
    expect([...(outcome.global.get('B') as HostTensor).data]).toEqual([1, 7]);
  });

  it('refuses stacked factors at configuration time', () => {
    expect(() =>
      new NormBounding(everyClientSampler(), 1).checkRules(
        new Map([['A', { kind: 'stack', axis: 1, scaleByWeight: true }]]),
      ),
    ).toThrow(/same-shape global/);
  });
});
