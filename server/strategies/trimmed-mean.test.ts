import { describe, expect, it } from 'vitest';
import type { HostTensor } from '../../shared/tensor/host-tensor.ts';
import { FedAvg } from './fedavg.ts';
import { aggregate, type ClientUpdate } from './strategy.ts';
import { hostTensor, everyClientSampler, singleMeanRule } from './test-fixtures.ts';
import { TrimmedMean, trimmedMeanOfSorted } from './trimmed-mean.ts';

const honestPlusOutlier = (): ClientUpdate[] => [
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((v, k) => ({
    clientId: `h${k}`,
    weight: 1,
    tensors: new Map([['B', hostTensor([2], [v, -v])]]),
  })),
  { clientId: 'evil', weight: 1000, tensors: new Map([['B', hostTensor([2], [1e6, 1e6])]]) },
];
const context = { round: 1, global: new Map([['B', hostTensor([2], [0, 0])]]), rules: singleMeanRule };

describe('TrimmedMean', () => {
  it('drops floor(beta n) values at each end of every coordinate', () => {
    expect(trimmedMeanOfSorted(Float64Array.of(-100, 1, 2, 3, 100), 0.2)).toBe(2);
    expect(trimmedMeanOfSorted(Float64Array.of(1, 2, 3, 10), 0)).toBe(4);
    expect(trimmedMeanOfSorted(Float64Array.of(1, 2, 3, 10), 0.49)).toBe(2.5);
  });

  it('is robust to an outlier client that FedAvg follows', () => {
    const trimmed = aggregate(
      new TrimmedMean(everyClientSampler(), 0.1, 1 << 20),
      context,
      honestPlusOutlier(),
    );
    // n = 10, k = 1: coordinate 0 keeps 2..9 -> 5.5; coordinate 1 keeps -8..-1 and drops -9 and 1e6 -> -4.5.
    expect([...(trimmed.global.get('B') as HostTensor).data]).toEqual([5.5, -4.5]);
    const avg = aggregate(new FedAvg(everyClientSampler()), context, honestPlusOutlier());
    expect((avg.global.get('B') as HostTensor).data[0]).toBeGreaterThan(9e5);
  });

  it('makes its memory limit explicit and keeps the round usable when it is reached', () => {
    // Each update is 2 float32 = 8 bytes; a 20-byte limit holds two.
    const round = new TrimmedMean(everyClientSampler(), 0, 20).beginAggregation(context);
    const [a, b, c] = honestPlusOutlier();
    round.add(a as ClientUpdate);
    round.add(b as ClientUpdate);
    expect(() => round.add(c as ClientUpdate)).toThrow(/maxBufferedBytes/);
    expect([...(round.finish().global.get('B') as HostTensor).data]).toEqual([1.5, -1.5]);
  });

  it('rejects invalid updates like the streaming strategies, and rules it cannot buffer', () => {
    const round = new TrimmedMean(everyClientSampler(), 0.1, 1 << 20).beginAggregation(context);
    expect(() =>
      round.add({ clientId: 'x', weight: 1, tensors: new Map([['B', hostTensor([2], [NaN, 1])]]) }),
    ).toThrow(/finite/);
    expect(() =>
      round.add({ clientId: 'x', weight: 1, tensors: new Map([['B', hostTensor([3], [1, 1, 1])]]) }),
    ).toThrow(/shape/);
    expect(round.count).toBe(0);
    expect(() =>
      new TrimmedMean(everyClientSampler(), 0.1, 1).checkRules(
        new Map([['B', { kind: 'nested-prefix-mean', axis: 0 }]]),
      ),
    ).toThrow(/same full-shape/);
  });
});
