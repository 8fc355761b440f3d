import { describe, expect, it } from 'vitest';
import { SuiteRegistry } from './registry.ts';
import type { BenchSuite } from './types.ts';

const suite = (name: string, flag?: string): BenchSuite => ({
  name,
  description: `${name} suite`,
  ...(flag ? { optIn: { flag, description: `enable ${flag}` } } : {}),
  run: () => Promise.resolve(),
});

function registry(): SuiteRegistry {
  const r = new SuiteRegistry();
  r.register(suite('matmul'));
  r.register(suite('quality', 'quality'));
  r.register(suite('step'));
  r.register(suite('fleet-small', 'fleet'));
  r.register(suite('fleet-large', 'fleet'));
  return r;
}

const names = (s: BenchSuite[]): string[] => s.map((x) => x.name);

describe('bench suite registry', () => {
  it('runs default suites only, in registration order, unless an opt-in flag is given', () => {
    const r = registry();
    expect(names(r.select({}))).toEqual(['matmul', 'step']);
    expect(names(r.select({ flags: ['fleet'] }))).toEqual(['matmul', 'step', 'fleet-small', 'fleet-large']);
    expect(names(r.select({ flags: ['quality'] }))).toEqual(['matmul', 'quality', 'step']);
  });

  it('--only names exactly the suites to run, opt-in ones included, and rejects unknown names', () => {
    const r = registry();
    expect(names(r.select({ only: ['step', 'quality'] }))).toEqual(['quality', 'step']);
    expect(() => r.select({ only: ['step', 'nope'] })).toThrow(
      /Unknown bench suite 'nope'\. Available: matmul, quality, step, fleet-small, fleet-large/,
    );
  });

  it('lists opt-in flags with the suites they enable', () => {
    expect(Object.fromEntries(registry().optInFlags())).toEqual({
      quality: { description: 'enable quality', suites: ['quality'] },
      fleet: { description: 'enable fleet', suites: ['fleet-small', 'fleet-large'] },
    });
  });

  it('refuses duplicate and badly named suites', () => {
    const r = registry();
    expect(() => r.register(suite('step'))).toThrow(/registered twice/);
    expect(() => r.register(suite('Step'))).toThrow(/lower-case/);
    expect(() => r.register(suite('x', 'Fleet'))).toThrow(/lower-case/);
  });
});
