import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatEta, UNKNOWN_ETA } from './progress-bar.ts';

/** Reads `7s`, `4m05s`, `2h03m` back into seconds, or null when the text is not one of those forms. */
function parse(text: string): number | null {
  const m = /^(?:(\d+)s|(\d+)m([0-5]\d)s|(\d+)h([0-5]\d)m)$/.exec(text);
  if (!m) return null;
  if (m[1] !== undefined) return Number(m[1]);
  if (m[2] !== undefined) return Number(m[2]) * 60 + Number(m[3]);
  return Number(m[4]) * 3600 + Number(m[5]) * 60;
}

const seconds = fc.double({ min: 0, max: 1e7, noNaN: true });

describe('formatEta', () => {
  it('always reads as s, m+s or h+m with no field at 60 or above, within its rounding of the estimate', () => {
    fc.assert(
      fc.property(seconds, (t) => {
        const text = formatEta(t);
        const back = parse(text);
        expect(back, text).not.toBeNull();
        // Rounding: to the second under a minute, to 5 s under an hour, to the minute above.
        const slack = t < 59.5 ? 0.5 : t < 3600 ? 2.5 : 30;
        expect(Math.abs(back! - t), `${t} -> ${text}`).toBeLessThanOrEqual(slack + 1e-9);
      }),
    );
  });

  it('never decreases as the estimate grows', () => {
    fc.assert(
      fc.property(seconds, seconds, (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        expect(parse(formatEta(lo))!).toBeLessThanOrEqual(parse(formatEta(hi))!);
      }),
    );
  });

  it('the reported case: 4 min 58 s reads 5m00s, not 4m60s', () => {
    expect(formatEta(298)).toBe('5m00s');
    expect(formatEta(59.7)).toBe('1m00s');
  });

  it("reads '--' for what cli-progress passes before it has a rate", () => {
    for (const v of ['NULL', 'INF', Number.NaN, Number.POSITIVE_INFINITY, -3, undefined]) {
      expect(formatEta(v)).toBe(UNKNOWN_ETA);
    }
  });
});
