import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHART_MARGIN, escapeXml, lineChart, niceTicks, roundTicks, type ChartSeries } from './line-chart.ts';

const W = 480;
const H = 230;

/** Every number in the path data and dot centres, as [x, y] pairs. */
function plotted(svg: string): Array<[number, number]> {
  const pairs: Array<[number, number]> = [];
  for (const m of svg.matchAll(/ d="([^"]+)"/g)) {
    for (const p of m[1]!.matchAll(/[ML](-?[\d.]+) (-?[\d.]+)/g)) pairs.push([Number(p[1]), Number(p[2])]);
  }
  for (const m of svg.matchAll(/<circle cx="(-?[\d.]+)" cy="(-?[\d.]+)"/g))
    pairs.push([Number(m[1]), Number(m[2])]);
  return pairs;
}

const seriesArb = fc.array(
  fc.record({
    name: fc.string({ maxLength: 12 }),
    color: fc.constantFrom('#2563eb', '#ea580c'),
    points: fc.array(
      fc.record({
        x: fc.integer({ min: 1, max: 500 }),
        y: fc.option(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { nil: null }),
      }),
      { maxLength: 40 },
    ),
  }),
  { minLength: 1, maxLength: 3 },
);

describe('niceTicks', () => {
  it('covers the range with evenly spaced 1/2/5 x 10^k steps', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e9, max: 1e9, noNaN: true }),
        fc.double({ min: 0, max: 1e9, noNaN: true }),
        (lo, span) => {
          const hi = lo + span;
          const t = niceTicks(lo, hi, 4);
          expect(t.length).toBeGreaterThanOrEqual(2);
          expect(t.length).toBeLessThanOrEqual(12);
          const step = t[1]! - t[0]!;
          // Within a billionth of a step: tick values are rounded to 12 significant digits.
          expect(t[0]!).toBeLessThanOrEqual(lo + step * 1e-9);
          expect(t.at(-1)!).toBeGreaterThanOrEqual(hi - step * 1e-9);
          const mantissa = step / 10 ** Math.floor(Math.log10(step));
          expect([1, 2, 5, 10].some((m) => Math.abs(mantissa - m) < 1e-6)).toBe(true);
          for (let i = 1; i < t.length; i++) expect(t[i]! - t[i - 1]!).toBeCloseTo(step, 6);
        },
      ),
    );
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.1, 0.3, 2)).toEqual([0.1, 0.2, 0.3]);
  });

  it('round ticks are integers within the range, at most target + 1 of them', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 10_000 }), (a, span) => {
        const t = roundTicks(a, a + span);
        expect(t.length).toBeLessThanOrEqual(7);
        for (const v of t) {
          expect(Number.isInteger(v)).toBe(true);
          expect(v).toBeGreaterThanOrEqual(a);
          expect(v).toBeLessThanOrEqual(a + span);
        }
      }),
    );
  });
});

describe('lineChart', () => {
  it('plots every finite point inside the plot area, never NaN, and counts them', () => {
    fc.assert(
      fc.property(seriesArb, fc.boolean(), (series: ChartSeries[], fromZero) => {
        const svg = lineChart(series, { yFromZero: fromZero, width: W, height: H, maxDots: 1000 });
        expect(svg).not.toMatch(/NaN|Infinity/);
        const finite = series.flatMap((s) => s.points.filter((p) => p.y !== null)).length;
        expect(svg).toContain(`data-points="${finite}"`);
        expect((svg.match(/<circle /g) ?? []).length).toBe(finite);
        for (const [x, y] of plotted(svg)) {
          expect(x).toBeGreaterThanOrEqual(CHART_MARGIN.left - 0.05);
          expect(x).toBeLessThanOrEqual(W - CHART_MARGIN.right + 0.05);
          expect(y).toBeGreaterThanOrEqual(CHART_MARGIN.top - 0.05);
          expect(y).toBeLessThanOrEqual(H - CHART_MARGIN.bottom + 0.05);
        }
      }),
    );
  });

  it('breaks the line at missing values and maps larger values higher', () => {
    const svg = lineChart([
      {
        name: 'loss',
        color: '#000',
        points: [
          { x: 1, y: 3 },
          { x: 2, y: 2 },
          { x: 3, y: null },
          { x: 4, y: 1 },
          { x: 5, y: 0.5 },
        ],
      },
    ]);
    const d = / d="([^"]+)"/.exec(svg)![1]!;
    expect(d.match(/M/g)).toHaveLength(2);
    const ys = plotted(svg)
      .slice(0, 4)
      .map(([, y]) => y);
    expect(ys[0]!).toBeLessThan(ys[1]!);
    expect(ys[2]!).toBeLessThan(ys[3]!);
    expect(svg).toContain('loss 0.5'); // legend shows the latest value
  });

  it('puts y ticks on round numbers of the given unit, and dashes dashed series', () => {
    const svg = lineChart(
      [{ name: 'up', color: '#000', points: [1, 2, 3].map((x) => ({ x, y: 3700 + x })), dashed: true }],
      { yFromZero: true, yUnit: () => 1024, formatY: (v) => String(v) },
    );
    const ticks = [...svg.matchAll(/class="tick"[^>]*text-anchor="end">(\d+)</g)].map((m) => Number(m[1]));
    expect(ticks).toEqual([0, 1024, 2048, 3072, 4096]);
    expect(svg).toContain('stroke-dasharray');
  });

  it('shows the empty text when nothing is finite, and escapes every label', () => {
    const svg = lineChart([{ name: '<b>"x"</b>', color: '"red"', points: [{ x: 1, y: null }] }], {
      emptyText: 'a < b & c',
    });
    expect(svg).toContain('data-points="0"');
    expect(svg).toContain('a &lt; b &amp; c');
    expect(svg).toContain('&lt;b&gt;&quot;x&quot;&lt;/b&gt;');
    expect(svg).not.toContain('<b>');
    expect(escapeXml(`<&>"'`)).toBe('&lt;&amp;&gt;&quot;&#39;');
  });
});
