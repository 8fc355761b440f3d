import { describe, expect, it } from 'vitest';
import { gflops, measure, measureInterleaved, median } from './timing.ts';

describe('bench timing', () => {
  it('median of odd and even sample counts; refuses none', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(/no samples/);
  });

  it('warms up at least the given count, then times exactly `reps` calls', () => {
    let calls = 0;
    const t = measure(() => calls++, { warmup: 3, warmupMs: 0, reps: 5 });
    expect(calls).toBe(8);
    expect(t.samplesMs).toHaveLength(5);
    expect(t.minMs).toBeLessThanOrEqual(t.medianMs);
  });

  it('keeps warming up until warmupMs has passed', () => {
    let calls = 0;
    const start = performance.now();
    measure(() => calls++, { warmup: 1, warmupMs: 30, reps: 1 });
    expect(performance.now() - start).toBeGreaterThanOrEqual(30);
    expect(calls).toBeGreaterThan(2);
  });

  it('interleaves the timed calls (a, b, a, b, ...) and reports each side', () => {
    const order: string[] = [];
    const busy = (ms: number): void => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    };
    const t = measureInterleaved(
      { a: () => (order.push('a'), busy(1)), b: () => (order.push('b'), busy(4)) },
      { warmup: 1, warmupMs: 0, reps: 3 },
    );
    expect(order).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
    expect(t.b.medianMs).toBeGreaterThan(t.a.medianMs);
    expect(t.a.medianMs).toBeGreaterThanOrEqual(1);
  });

  it('converts FLOPs and milliseconds to GFLOP/s', () => {
    expect(gflops(2 * 1024 ** 3, 50)).toBeCloseTo(42.95, 2);
  });
});
