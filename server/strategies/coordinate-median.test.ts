import { describe, expect, it } from 'vitest';
import type { HostTensor } from '../../shared/tensor/host-tensor.ts';
import { CoordinateMedian, medianOfSorted } from './coordinate-median.ts';
import { aggregate } from './strategy.ts';
import { hostTensor, everyClientSampler, singleMeanRule } from './test-fixtures.ts';

const context = { round: 1, global: new Map([['B', hostTensor([2], [0, 0])]]), rules: singleMeanRule };
const update = (id: string, weight: number, values: number[]) => ({
  clientId: id,
  weight,
  tensors: new Map([['B', hostTensor([2], values)]]),
});

describe('CoordinateMedian', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(medianOfSorted(Float64Array.of(1, 5, 100))).toBe(5);
    expect(medianOfSorted(Float64Array.of(1, 2, 4, 100))).toBe(3);
  });

  it('ignores a minority of arbitrary clients, whatever weight they claim', () => {
    const out = aggregate(new CoordinateMedian(everyClientSampler(), 1 << 20), context, [
      update('a', 1, [1, 10]),
      update('b', 1, [2, 20]),
      update('c', 1, [3, 30]),
      update('evil1', 1e6, [-1e9, 1e9]),
      update('evil2', 1e6, [1e9, -1e9]),
    ]);
    expect([...(out.global.get('B') as HostTensor).data]).toEqual([2, 20]);
    expect(out.contributors).toHaveLength(5);
  });

  it('with an even count averages the two middle values per coordinate', () => {
    const out = aggregate(new CoordinateMedian(everyClientSampler(), 1 << 20), context, [
      update('a', 1, [4, -1]),
      update('b', 1, [1, -2]),
      update('c', 1, [3, -3]),
      update('d', 1, [2, 50]),
    ]);
    expect([...(out.global.get('B') as HostTensor).data]).toEqual([2.5, -1.5]);
  });
});
