import { describe, expect, it } from 'vitest';
import { formatBytes, formatGain, formatPoints } from './format.ts';
import { formatBytes as dashboardBytes } from '../../server/dashboard/page/format.ts';

describe('report number formats', () => {
  it('gives accuracy changes in percentage points, also from a base of 0', () => {
    expect(formatPoints(0.25, 0.295)).toBe('+4.5 pt');
    expect(formatPoints(0, 0.75)).toBe('+75.0 pt');
    expect(formatGain('classification', 0.5, 0.4)).toBe('-10.0 pt');
    expect(formatGain('language-model', 10, 9)).toBe('-10.0%');
  });
  it('uses the dashboard’s 1024-based units', () => {
    for (const bytes of [40_000, 3 * 1024 ** 2, 5 * 1024 ** 3]) {
      expect(formatBytes(bytes).split(' ')[1]).toBe(dashboardBytes(bytes).split(' ')[1]);
    }
    expect(formatBytes(40_000)).toBe('39.1 KiB');
  });
});
