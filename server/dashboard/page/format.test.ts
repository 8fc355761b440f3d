import { describe, expect, it } from 'vitest';
import { byteUnit, formatBytes, formatDuration, formatNumber, MISSING, perplexity } from './format.ts';

describe('dashboard formatting', () => {
  it('formats bytes, durations and numbers compactly, with a dash for missing values', () => {
    expect([0, 1023, 1024, 1536, 10 * 1024 * 1024, 3.5 * 1024 ** 3].map(formatBytes)).toEqual([
      '0 B',
      '1023 B',
      '1 KiB',
      '1.5 KiB',
      '10 MiB',
      '3.5 GiB',
    ]);
    expect([0, 1023, 1024, 5e6, 3e12].map(byteUnit)).toEqual([1, 1, 1024, 1024 ** 2, 1024 ** 4]);
    expect([12.4, 1_500, 42_000, 125_000, 4_000_000].map(formatDuration)).toEqual([
      '12 ms',
      '1.50 s',
      '42.0 s',
      '2 min 5 s',
      '1 h 6 min',
    ]);
    expect([0, 3.14159265, 123456.7, 2e-5, Infinity].map((v) => formatNumber(v, 4))).toEqual([
      '0',
      '3.142',
      '123500',
      '2.00e-5',
      '∞',
    ]);
    expect([formatBytes(null), formatDuration(undefined), formatNumber(NaN)]).toEqual([
      MISSING,
      MISSING,
      MISSING,
    ]);
  });

  it('perplexity is exp(loss), null when missing or overflowing', () => {
    expect(perplexity(Math.log(12))).toBeCloseTo(12, 10);
    expect(perplexity(null)).toBeNull();
    expect(perplexity(1e6)).toBeNull();
  });
});
