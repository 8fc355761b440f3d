/** The `limits` block's parts in isolation: bounded weights, the aggregate check, log rate limits, defaults. */
import { describe, expect, it } from 'vitest';
import { parseCoordinatorConfig } from '../../server/config.ts';
import { aggregateRejection } from '../../server/limits/aggregate-check.ts';
import { RateLimitedLogger } from '../../server/limits/rate-limited-logger.ts';
import { boundedWeight } from '../../server/limits/update-weight.ts';
import { MemoryLogger } from '../../server/logger.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';

const map = (values: number[]): HostTensorMap =>
  new Map([['a', { shape: [values.length], data: Float32Array.from(values) }]]);

describe('bounded weights', () => {
  it.each([
    [{ weight: 1e308, numExamples: 10 }, 1e6, 10],
    [{ weight: 1e308, numExamples: 0 }, 1e6, 1e6],
    [{ weight: 3, numExamples: 0 }, 1e6, 3],
    [{ weight: 0, numExamples: 7 }, 1e6, 7],
    [{ weight: 5, numExamples: 9 }, 1e6, 5],
    [{ weight: 0, numExamples: 1e9 }, 1000, 1000],
  ])('%o capped at %d -> %d', (commit, cap, want) => {
    expect(boundedWeight(commit, cap)).toBe(want);
  });

  it.each([
    { weight: 0, numExamples: 0 },
    { weight: -1, numExamples: 0 },
    { weight: NaN, numExamples: -5 },
  ])('refuses %o as MALFORMED_MESSAGE', (commit) => {
    expect(() => boundedWeight(commit, 10)).toThrow(expect.objectContaining({ code: 'MALFORMED_MESSAGE' }));
  });
});

describe('aggregate check', () => {
  const limits = { maxRelativeChange: 1, maxAbsoluteChange: 0.5 };
  it('accepts a change within relative + absolute bound', () => {
    // ||prev|| = 5, bound = 5.5; change = 5.
    expect(aggregateRejection(map([3, 4]), map([6, 8]), limits)).toBeNull();
  });
  it('rejects a change over the bound', () => {
    expect(aggregateRejection(map([3, 4]), map([9, 12]), limits)?.code).toBe('AGGREGATE_REJECTED');
  });
  it.each([Infinity, -Infinity, NaN])('rejects a non-finite value (%d)', (v) => {
    expect(
      aggregateRejection(map([0, 0]), map([v, 0]), { maxRelativeChange: 1e9, maxAbsoluteChange: 1e9 })?.code,
    ).toBe('AGGREGATE_REJECTED');
  });
  it('counts a tensor whose shape changed as all change', () => {
    const next: HostTensorMap = new Map([['a', { shape: [3], data: Float32Array.from([0, 0, 1]) }]]);
    expect(
      aggregateRejection(map([0, 0]), next, { maxRelativeChange: 0, maxAbsoluteChange: 0.9 })?.code,
    ).toBe('AGGREGATE_REJECTED');
  });
});

describe('rate-limited client log lines', () => {
  it('passes a burst, then suppresses per client and reports the count on the next line', () => {
    const logger = new MemoryLogger();
    const limited = new RateLimitedLogger(logger, 1e-9);
    for (let i = 0; i < 100; i++) limited.client('warn', 'protocol-error', 'peer-a', { i });
    limited.client('warn', 'protocol-error', 'peer-b', {});
    const a = logger.records.filter((r) => r.event === 'protocol-error' && r['i'] !== undefined);
    expect(a.length).toBeLessThan(100);
    expect(a.length).toBeGreaterThan(0);
    // Another client has its own budget.
    expect(logger.records.length).toBe(a.length + 1);
  });
});

describe('limits config', () => {
  it('has documented defaults and refuses unknown keys with the field named', () => {
    const c = parseCoordinatorConfig({});
    expect(c.limits.maxExampleWeight).toBeGreaterThan(0);
    expect(c.limits.maxSessionsPerToken).toBeGreaterThan(0);
    expect(() => parseCoordinatorConfig({ limits: { framesPerSecnd: 3 } })).toThrow(/limits/);
    expect(() => parseCoordinatorConfig({ limits: { maxExampleWeight: 0 } })).toThrow(/maxExampleWeight/);
  });
});
