import { describe, expect, it } from 'vitest';
import type { FedpeftError } from '../../shared/errors.ts';
import { ClientSampler, samplingSchema } from './client-sampler.ts';
import type { ClientDescriptor } from './strategy.ts';

const clients = (n: number): ClientDescriptor[] =>
  Array.from({ length: n }, (_, i) => ({ id: `c${String(i).padStart(3, '0')}` }));

describe('ClientSampler', () => {
  it('samples ceil(fraction * eligible) but at least minClients and at most maxClients', () => {
    const s = (fraction: number, minClients: number, maxClients?: number) =>
      new ClientSampler(samplingSchema.parse({ fraction, minClients, maxClients }), 1);
    expect(s(0.1, 1).sample(clients(100), 0)).toHaveLength(10);
    expect(s(0.1, 1).sample(clients(95), 0)).toHaveLength(10); // ceil(9.5)
    expect(s(0.3, 1).sample(clients(10), 0)).toHaveLength(3); // no float drift: 0.3 * 10 is not 3.0000000000000004 -> 4
    expect(s(0.01, 5).sample(clients(100), 0)).toHaveLength(5);
    expect(s(1, 1, 7).sample(clients(100), 0)).toHaveLength(7);
    expect(s(1, 1).sample(clients(4), 0)).toEqual(['c000', 'c001', 'c002', 'c003']);
  });

  it('is seeded: same (seed, round) -> same clients whatever the connection order; rounds and seeds differ', () => {
    const config = samplingSchema.parse({ fraction: 0.2 });
    const all = clients(50);
    const a = new ClientSampler(config, 42).sample(all, 3);
    const b = new ClientSampler(config, 42).sample([...all].reverse(), 3);
    expect(a).toEqual(b);
    expect(new ClientSampler(config, 42).sample(all, 4)).not.toEqual(a);
    expect(new ClientSampler(config, 43).sample(all, 3)).not.toEqual(a);
    expect(new Set(a).size).toBe(10);
  });

  it('only samples eligible clients, and every eligible client about equally often', () => {
    const all = clients(20).map((c, i) => ({ ...c, eligible: i % 4 !== 0, traits: { rank: i % 2 ? 8 : 4 } }));
    const sampler = new ClientSampler(
      samplingSchema.parse({ fraction: 0.5 }),
      9,
      (c) => c.eligible !== false && c.traits?.rank === 8,
    );
    const counts = new Map<string, number>();
    for (let round = 0; round < 2000; round++) {
      for (const id of sampler.sample(all, round)) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    // Eligible: odd indices not divisible by 4 -> all 10 odd ones. 5 of 10 per round -> ~1000 each.
    expect([...counts.keys()].sort()).toEqual(all.filter((_, i) => i % 2 === 1).map((c) => c.id));
    for (const n of counts.values()) expect(Math.abs(n - 1000)).toBeLessThan(120);
  });

  it('refuses a round below minClients with an actionable error', () => {
    const sampler = new ClientSampler(samplingSchema.parse({ minClients: 3 }), 1);
    const err = (() => {
      try {
        sampler.sample([{ id: 'a' }, { id: 'b' }, { id: 'c', eligible: false }], 5);
      } catch (e) {
        return e as FedpeftError;
      }
      return undefined;
    })();
    expect(err?.code).toBe('STRATEGY_NOT_ENOUGH_CLIENTS');
    expect(err?.message).toMatch(/2 eligible client\(s\) of 3 connected.*minClients is 3/);
    expect(() => sampler.sample([{ id: 'a' }, { id: 'a' }, { id: 'b' }], 0)).toThrow(/listed twice/);
  });

  it('validates its config with messages a person can act on', () => {
    expect(samplingSchema.parse(undefined)).toEqual({ fraction: 1, minClients: 1 });
    expect(samplingSchema.safeParse({ fraction: 0 }).error?.issues[0]?.message).toMatch(
      /fraction must be > 0/,
    );
    expect(samplingSchema.safeParse({ minClients: 4, maxClients: 2 }).success).toBe(false);
  });
});
