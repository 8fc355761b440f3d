import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { firstNonFinite } from './host-math.ts';

describe('firstNonFinite', () => {
  it('finds the first NaN or ±Infinity, exactly as a per-element Number.isFinite scan does', () => {
    const value = fc.oneof(
      fc.float({ noNaN: true, noDefaultInfinity: true }),
      fc.constantFrom(Number.NaN, Infinity, -Infinity, 3.4e38, -3.4e38),
    );
    fc.assert(
      fc.property(fc.array(value, { maxLength: 300 }), (values) => {
        const data = Float32Array.from(values);
        expect(firstNonFinite(data)).toBe(data.findIndex((x) => !Number.isFinite(x)));
      }),
    );
  });

  it('does not overflow on many large finite values (the fast pass must stay exactly zero)', () => {
    expect(firstNonFinite(new Float32Array(10_000).fill(3.4e38))).toBe(-1);
  });
});
