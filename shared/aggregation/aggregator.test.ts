import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { AggregationRule } from '../adapters/types.ts';
import { FedpeftError } from '../errors.ts';
import type { HostTensor, HostTensorMap } from '../tensor/host-tensor.ts';
import { Aggregator } from './aggregator.ts';
import { globalForClientRank } from './prefix-for-client.ts';
import { registerAggregationRule, registeredAggregationRules } from './rules/rule-registry.ts';
import { weightedMeanRule } from './rules/weighted-mean.ts';

const t = (shape: number[], values: number[]): HostTensor => ({ shape, data: Float32Array.from(values) });
const rulesOf = (entries: [string, AggregationRule][]) => new Map(entries);

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof FedpeftError) return err.code;
    throw err;
  }
  return 'no error';
}

/** Plain [m,k] x [k,n] product for checking factor algebra. */
function matmul(a: HostTensor, b: HostTensor): number[] {
  const [m, k] = a.shape as [number, number];
  const n = b.shape[1] as number;
  const out = new Array<number>(m * n).fill(0);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++)
      for (let p = 0; p < k; p++)
        out[i * n + j]! += (a.data[i * k + p] as number) * (b.data[p * n + j] as number);
  return out;
}

describe('Aggregator', () => {
  it('registers the five rule kinds and refuses duplicates', () => {
    expect(registeredAggregationRules().sort()).toEqual(
      ['local-only', 'nested-prefix-mean', 'stack', 'weighted-mean', 'zero-pad-norm-weighted'].sort(),
    );
    expect(() => registerAggregationRule(weightedMeanRule)).toThrow(/already registered/);
  });

  it('weighted mean equals the offline weighted mean and keeps the global shape', () => {
    const previous = new Map([['B', t([2, 2], [0, 0, 0, 0])]]);
    const agg = new Aggregator({ rules: rulesOf([['B', { kind: 'weighted-mean' }]]), previous });
    agg.add({ clientId: 'a', weight: 1, tensors: new Map([['B', t([2, 2], [1, 2, 3, 4])]]) });
    agg.add({ clientId: 'b', weight: 3, tensors: new Map([['B', t([2, 2], [5, 6, 7, 8])]]) });
    expect(agg.result().get('B')).toEqual(t([2, 2], [4, 5, 6, 7]));
    expect(agg.streaming).toBe(true);
    expect(
      codeOf(() => agg.add({ clientId: 'c', weight: 1, tensors: new Map([['B', t([4], [1, 2, 3, 4])]]) })),
    ).toBe('AGGREGATION_SHAPE_MISMATCH');
  });

  it('nested-prefix-mean: each row over the clients that trained it, untrained rows keep the global', () => {
    // Global B_role [4 rows (rank), 2 cols]; clients of rank 3, 1, 2 with weights 2, 1, 1.
    const previous = new Map([['B', t([4, 2], [0, 0, 0, 0, 0, 0, -1, -2])]]);
    const agg = new Aggregator({
      rules: rulesOf([['B', { kind: 'nested-prefix-mean', axis: 0 }]]),
      previous,
    });
    agg.add({ clientId: 'r3', weight: 2, tensors: new Map([['B', t([3, 2], [1, 1, 2, 2, 3, 3])]]) });
    agg.add({ clientId: 'r1', weight: 1, tensors: new Map([['B', t([1, 2], [4, 7])]]) });
    agg.add({
      clientId: 'r2',
      weight: 1,
      tensors: new Map([['B', t([4, 2], [10, 10, 20, 20, 99, 99, 99, 99])]]),
      trainedExtents: new Map([['B', 2]]),
    });
    // Row 0: (2*1 + 1*4 + 1*10)/4 = 4, (2*1 + 1*7 + 1*10)/4 = 4.75; row 1: (2*2 + 20)/3 = 8 (both columns);
    // row 2: only r3 -> 3; row 3: nobody -> previous (-1, -2).
    expect([...(agg.result().get('B') as HostTensor).data]).toEqual([4, 4.75, 8, 8, 3, 3, -1, -2]);
  });

  it('nested-prefix-mean along columns (axis 1)', () => {
    const previous = new Map([['U', t([2, 3], [7, 7, 7, 7, 7, 7])]]);
    const agg = new Aggregator({
      rules: rulesOf([['U', { kind: 'nested-prefix-mean', axis: 1 }]]),
      previous,
    });
    agg.add({ clientId: 'a', weight: 1, tensors: new Map([['U', t([2, 1], [1, 2])]]) });
    agg.add({ clientId: 'b', weight: 1, tensors: new Map([['U', t([2, 2], [3, 4, 5, 6])]]) });
    expect([...(agg.result().get('U') as HostTensor).data]).toEqual([2, 4, 7, 3.5, 6, 7]);
  });

  it("FLoRA stacking: A'B' equals sum_k p_k A_k B_k for mixed ranks (property)", () => {
    const rules = rulesOf([
      ['A', { kind: 'stack', axis: 1, scaleByWeight: true }],
      ['B', { kind: 'stack', axis: 0, scaleByWeight: false }],
    ]);
    const value = fc.float({ min: -2, max: 2, noNaN: true, noDefaultInfinity: true });
    const client = fc.record({
      weight: fc.double({ min: 0.1, max: 50, noNaN: true }),
      rank: fc.integer({ min: 1, max: 4 }),
      seedValues: fc.array(value, { minLength: 4 * 3 + 4 * 5, maxLength: 4 * 3 + 4 * 5 }),
    });
    fc.assert(
      fc.property(fc.array(client, { minLength: 1, maxLength: 6 }), (clients) => {
        const [m, n] = [3, 5];
        const agg = new Aggregator({ rules });
        const expected = new Array<number>(m * n).fill(0);
        const total = clients.reduce((s, c) => s + c.weight, 0);
        clients.forEach((c, k) => {
          const A = t([m, c.rank], c.seedValues.slice(0, m * c.rank));
          const B = t([c.rank, n], c.seedValues.slice(12, 12 + c.rank * n));
          matmul(A, B).forEach((v, i) => (expected[i]! += (c.weight / total) * v));
          agg.add({
            clientId: `c${k}`,
            weight: c.weight,
            tensors: new Map([
              ['A', A],
              ['B', B],
            ]),
          });
        });
        const out = agg.result();
        const rankSum = clients.reduce((s, c) => s + c.rank, 0);
        expect(out.get('A')?.shape).toEqual([m, rankSum]);
        expect(out.get('B')?.shape).toEqual([rankSum, n]);
        const product = matmul(out.get('A') as HostTensor, out.get('B') as HostTensor);
        product.forEach((v, i) => expect(Math.abs(v - (expected[i] as number))).toBeLessThan(1e-4));
      }),
      { numRuns: 100 },
    );
  });

  it('stacking rejects mismatched non-rank dimensions', () => {
    const agg = new Aggregator({ rules: rulesOf([['A', { kind: 'stack', axis: 1, scaleByWeight: true }]]) });
    agg.add({ clientId: 'a', weight: 1, tensors: new Map([['A', t([2, 1], [1, 2])]]) });
    expect(agg.streaming).toBe(false);
    expect(
      codeOf(() => agg.add({ clientId: 'b', weight: 1, tensors: new Map([['A', t([3, 1], [1, 2, 3])]]) })),
    ).toBe('AGGREGATION_SHAPE_MISMATCH');
  });

  it('HetLoRA: zero-pads to r_max, weights by the reported norm, truncates per client', () => {
    const previous = new Map([['B', t([3, 1], [0, 0, 0])]]);
    const rules = rulesOf([['B', { kind: 'zero-pad-norm-weighted', axis: 0 }]]);
    const agg = new Aggregator({ rules, previous });
    agg.add({
      clientId: 'r1',
      weight: 100,
      tensors: new Map([['B', t([1, 1], [6])]]),
      norms: new Map([['B', 1]]),
    });
    agg.add({
      clientId: 'r3',
      weight: 1,
      tensors: new Map([['B', t([3, 1], [3, 3, 3])]]),
      norms: new Map([['B', 2]]),
    });
    agg.add({
      clientId: 'idle',
      weight: 5,
      tensors: new Map([['B', t([2, 1], [50, 50])]]),
      norms: new Map([['B', 0]]),
    });
    // Norm weights 1 and 2 (the idle client's norm is 0 and its data weight is ignored, as in the paper):
    // row 0: (1*6 + 2*3)/3 = 4; rows 1, 2: (1*0 + 2*3)/3 = 2.
    const global = agg.result();
    expect([...(global.get('B') as HostTensor).data]).toEqual([4, 2, 2]);
    expect(globalForClientRank(global, rules, 2).get('B')).toEqual(t([2, 1], [4, 2]));
    expect(
      codeOf(() => agg.check({ clientId: 'x', weight: 1, tensors: new Map([['B', t([1, 1], [1])]]) })),
    ).toBe('AGGREGATION_INVALID_NORM');
    expect(
      codeOf(() =>
        agg.check({
          clientId: 'x',
          weight: 1,
          tensors: new Map([['B', t([4, 1], [1, 1, 1, 1])]]),
          norms: new Map([['B', 1]]),
        }),
      ),
    ).toBe('AGGREGATION_SHAPE_MISMATCH');
  });

  it('rejects local-only tensors, unknown names, duplicates; a bad contribution changes nothing', () => {
    const previous = new Map([
      ['A', t([2], [0, 0])],
      ['B', t([2], [0, 0])],
    ]);
    const agg = new Aggregator({
      rules: rulesOf([
        ['A', { kind: 'weighted-mean' }],
        ['B', { kind: 'weighted-mean' }],
        ['P', { kind: 'local-only' }],
      ]),
      previous,
    });
    const ok: HostTensorMap = new Map([
      ['A', t([2], [1, 1])],
      ['B', t([2], [2, 2])],
    ]);
    agg.add({ clientId: 'a', weight: 2, tensors: ok });
    const before = agg.result();
    const bad = (tensors: HostTensorMap, clientId = 'b') =>
      codeOf(() => agg.add({ clientId, weight: 1, tensors }));
    expect(bad(new Map([...ok, ['P', t([1], [1])]]))).toBe('AGGREGATION_LOCAL_ONLY');
    expect(bad(new Map([...ok, ['Z', t([1], [1])]]))).toBe('AGGREGATION_UNKNOWN_TENSOR');
    expect(
      bad(
        new Map([
          ['A', t([2], [9, 9])],
          ['B', t([2], [NaN, 0])],
        ]),
      ),
    ).toBe('AGGREGATION_NON_FINITE');
    expect(bad(new Map([['A', t([2], [9, 9])]]))).toBe('AGGREGATION_NAME_MISMATCH');
    expect(bad(ok, 'a')).toBe('AGGREGATION_DUPLICATE_CLIENT');
    expect(
      codeOf(() => agg.add({ clientId: 'c', weight: 1, tensors: ok, trainedExtents: new Map([['A', 1]]) })),
    ).toBe('AGGREGATION_INVALID_EXTENT');
    expect(agg.count).toBe(1);
    expect(agg.totalWeight).toBe(2);
    expect(agg.result()).toEqual(before);
    expect(codeOf(() => new Aggregator({ rules: new Map() }).result())).toBe('AGGREGATION_EMPTY');
    expect(
      codeOf(() =>
        new Aggregator({ rules: rulesOf([['B', { kind: 'nested-prefix-mean', axis: 0 }]]) }).add({
          clientId: 'a',
          weight: 1,
          tensors: new Map([['B', t([1], [1])]]),
        }),
      ),
    ).toBe('AGGREGATION_PREVIOUS_REQUIRED');
  });
});
