import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyOverrides, parseOverride } from './scenario-overrides.ts';

describe('parseOverride', () => {
  it('reads the value as YAML', () => {
    expect(parseOverride('a.b=3')).toEqual({ path: ['a', 'b'], value: 3, source: '--set a.b=3' });
    expect(parseOverride('a=true').value).toBe(true);
    expect(parseOverride('a=[x, y]').value).toEqual(['x', 'y']);
    expect(parseOverride('a={r: 4}').value).toEqual({ r: 4 });
    expect(parseOverride('a=hello world').value).toBe('hello world');
    expect(parseOverride('a=').value).toBe('');
    expect(parseOverride('a=x=y').value).toBe('x=y');
  });

  it('rejects malformed overrides with the expected form', () => {
    expect(() => parseOverride('rounds')).toThrow(/use --set <dotted.path>=<value>/);
    expect(() => parseOverride('=3')).toThrow(/use --set/);
    expect(() => parseOverride('a..b=3')).toThrow(/empty path segment/);
    expect(() => parseOverride('a=[1, 2')).toThrow(/not valid YAML/);
  });
});

describe('applyOverrides', () => {
  it('creates missing blocks (lists for numeric segments) and leaves the input unchanged', () => {
    const raw = { training: { rounds: 5 } };
    const out = applyOverrides(raw, ['training.rounds=2', 'devices.classes.0.speed=0.5', 'name=x']);
    expect(out).toEqual({ training: { rounds: 2 }, devices: { classes: [{ speed: 0.5 }] }, name: 'x' });
    expect(raw).toEqual({ training: { rounds: 5 } });
  });

  it('refuses to descend into a scalar or index a list by name', () => {
    expect(() => applyOverrides({ training: 3 }, ['training.rounds=2'])).toThrow(
      /training is 3, not a block/,
    );
    expect(() => applyOverrides({ a: [1] }, ['a.x=2'])).toThrow(/indexes a list/);
  });

  it('property: the value lands at its path and nothing else changes', () => {
    const segment = fc.stringMatching(/^[a-z]{1,6}$/);
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        fc.oneof(fc.integer(), fc.boolean(), fc.stringMatching(/^[a-z]{1,8}$/)),
        (path, value) => {
          const base = { keep: { me: 1 } };
          const out = applyOverrides(base, [{ path, value }]) as Record<string, unknown>;
          let node: unknown = out;
          for (const p of path) node = (node as Record<string, unknown>)[p];
          expect(node).toEqual(value);
          if (path[0] !== 'keep') expect(out.keep).toEqual({ me: 1 });
          expect(base).toEqual({ keep: { me: 1 } });
        },
      ),
      { numRuns: 200 },
    );
  });
});
