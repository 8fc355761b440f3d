import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FedpeftError } from '../errors.ts';
import type { HostTensor, HostTensorMap } from '../tensor/host-tensor.ts';
import { RunningWeightedSum } from './running-weighted-sum.ts';

const t = (shape: number[], values: number[]): HostTensor => ({ shape, data: Float32Array.from(values) });

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FedpeftError);
    expect((err as FedpeftError).code).toBe(code);
    return;
  }
  throw new Error(`expected a FedpeftError ${code}`);
}

describe('RunningWeightedSum', () => {
  it('equals the batch weighted mean for many clients, in any order (property)', () => {
    const client = (size: number) =>
      fc.record({
        weight: fc.double({ min: 0.01, max: 1000, noNaN: true }),
        a: fc.array(fc.float({ min: -1000, max: 1000, noNaN: true }), { minLength: size, maxLength: size }),
        b: fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: 2, maxLength: 2 }),
      });
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 6 })
          .chain((size) => fc.array(client(size), { minLength: 1, maxLength: 60 })),
        (clients) => {
          const forward = new RunningWeightedSum();
          const backward = new RunningWeightedSum();
          const asMap = (c: (typeof clients)[number]): HostTensorMap =>
            new Map([
              ['a', t([c.a.length], c.a)],
              ['b', t([1, 2], c.b)],
            ]);
          for (const c of clients) forward.add(c.weight, asMap(c));
          for (const c of [...clients].reverse()) backward.add(c.weight, asMap(c));
          const total = clients.reduce((s, c) => s + c.weight, 0);
          const got = forward.result();
          const again = backward.result();
          expect(forward.count).toBe(clients.length);
          expect(forward.totalWeight).toBeCloseTo(total, 6);
          for (const name of ['a', 'b'] as const) {
            const width = (clients[0] as (typeof clients)[number])[name].length;
            for (let i = 0; i < width; i++) {
              let s = 0;
              for (const c of clients) s += c.weight * Math.fround(c[name][i] as number);
              const expected = s / total;
              const value = got.get(name)?.data[i] as number;
              expect(Math.abs(value - expected)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(expected)));
              // Float64 sums in another order may differ in the last float64 bits, never visibly in float32.
              const other = again.get(name)?.data[i] as number;
              expect(Math.abs(other - value)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(value)));
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('rejects NaN, Inf, bad weights, shape and name mismatches without touching the sum', () => {
    const sum = new RunningWeightedSum();
    sum.add(
      1,
      new Map([
        ['w', t([2], [1, 2])],
        ['v', t([1], [10])],
      ]),
    );
    sum.add(
      3,
      new Map([
        ['w', t([2], [5, 6])],
        ['v', t([1], [20])],
      ]),
    );
    const before = sum.result();
    // The bad value sits in the SECOND tensor: a non-atomic implementation would already have folded `w`.
    expectCode(
      () =>
        sum.add(
          1,
          new Map([
            ['w', t([2], [100, 100])],
            ['v', t([1], [NaN])],
          ]),
        ),
      'AGGREGATION_NON_FINITE',
    );
    expectCode(
      () =>
        sum.add(
          1,
          new Map([
            ['w', t([2], [100, 100])],
            ['v', t([1], [Infinity])],
          ]),
        ),
      'AGGREGATION_NON_FINITE',
    );
    expectCode(
      () =>
        sum.add(
          1,
          new Map([
            ['w', t([3], [1, 1, 1])],
            ['v', t([1], [1])],
          ]),
        ),
      'AGGREGATION_SHAPE_MISMATCH',
    );
    expectCode(
      () =>
        sum.add(
          1,
          new Map([
            ['w', t([2, 1], [1, 1])],
            ['v', t([1], [1])],
          ]),
        ),
      'AGGREGATION_SHAPE_MISMATCH',
    );
    expectCode(
      () =>
        sum.add(
          1,
          new Map([
            ['w', { shape: [2], data: Float32Array.of(1) }],
            ['v', t([1], [1])],
          ]),
        ),
      'AGGREGATION_SHAPE_MISMATCH',
    );
    expectCode(() => sum.add(1, new Map([['w', t([2], [1, 1])]])), 'AGGREGATION_NAME_MISMATCH');
    expectCode(
      () =>
        sum.add(
          1,
          new Map([
            ['w', t([2], [1, 1])],
            ['v', t([1], [1])],
            ['x', t([1], [1])],
          ]),
        ),
      'AGGREGATION_NAME_MISMATCH',
    );
    for (const w of [0, -1, NaN, Infinity]) {
      expectCode(
        () =>
          sum.add(
            w,
            new Map([
              ['w', t([2], [1, 1])],
              ['v', t([1], [1])],
            ]),
          ),
        'AGGREGATION_INVALID_WEIGHT',
      );
    }
    expect(sum.count).toBe(2);
    expect(sum.totalWeight).toBe(4);
    expect(sum.result()).toEqual(before);
    expect([...(before.get('w')?.data ?? [])]).toEqual([4, 5]); // (1*1 + 3*5)/4, (1*2 + 3*6)/4
    expect([...(before.get('v')?.data ?? [])]).toEqual([17.5]);
  });

  it('averages nested-rank rows over the clients that trained them and keeps the rest', () => {
    const expected = new Map<string, readonly number[]>([['B', [3, 2]]]);
    const sum = new RunningWeightedSum({ expected, prefixAxes: new Map([['B', 0]]) });
    // Client 1 (weight 1) trained all 3 rows; client 2 (weight 3) sends only its first row (rank 1).
    sum.add(1, new Map([['B', t([3, 2], [1, 2, 3, 4, 5, 6])]]));
    sum.add(3, new Map([['B', t([1, 2], [5, 6])]]));
    // Client 3 (weight 4) sends the full tensor but declares that it trained 2 rows: row 2 is ignored.
    sum.add(4, new Map([['B', t([3, 2], [9, 9, 7, 8, 1000, 1000])]]), new Map([['B', 2]]));
    expect([...sum.coverage('B')]).toEqual([8, 5, 1]);
    const B = sum.result().get('B') as HostTensor;
    const row0 = [(1 * 1 + 3 * 5 + 4 * 9) / 8, (1 * 2 + 3 * 6 + 4 * 9) / 8];
    const row1 = [(1 * 3 + 4 * 7) / 5, (1 * 4 + 4 * 8) / 5];
    expect([...B.data]).toEqual([...Float32Array.from([...row0, ...row1, 5, 6])]);
    expectCode(
      () => sum.add(1, new Map([['B', t([4, 2], new Array(8).fill(0))]])),
      'AGGREGATION_SHAPE_MISMATCH',
    );
    expectCode(
      () => sum.add(1, new Map([['B', t([2, 2], [0, 0, 0, 0])]]), new Map([['B', 3]])),
      'AGGREGATION_INVALID_EXTENT',
    );
  });

  it('keeps the previous value for rows no client trained, and says so when there is none', () => {
    const sum = new RunningWeightedSum({
      expected: new Map([['B', [2, 1]]]),
      prefixAxes: new Map([['B', 0]]),
    });
    sum.add(2, new Map([['B', t([1, 1], [4])]]));
    expect([...(sum.result(new Map([['B', t([2, 1], [0, -7])]])).get('B')?.data ?? [])]).toEqual([4, -7]);
    expectCode(() => sum.result(), 'AGGREGATION_PREVIOUS_REQUIRED');
  });

  it('folds at once and keeps no reference to the update (memory does not grow with clients)', () => {
    const sum = new RunningWeightedSum();
    const update = t([3], [1, 2, 3]);
    sum.add(2, new Map([['w', update]]));
    update.data.fill(1e9); // the caller reuses its decode buffer
    sum.add(2, new Map([['w', t([3], [3, 2, 1])]]));
    expect([...(sum.result().get('w')?.data ?? [])]).toEqual([2, 2, 2]);
  });

  it('reports an empty sum instead of dividing by zero', () => {
    expectCode(() => new RunningWeightedSum().result(), 'AGGREGATION_EMPTY');
  });
});
