import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { trainingProgress, warmupCosineLr } from './lr-schedule.ts';

const opts = { peak: 5e-3, warmupSteps: 10, minRatio: 0.1 };

describe('warmupCosineLr', () => {
  it('warms up linearly, peaks, then decays to the floor', () => {
    expect(warmupCosineLr(0, 0, opts)).toBeCloseTo(5e-4, 12);
    expect(warmupCosineLr(4, 0, opts)).toBeCloseTo(2.5e-3, 12);
    expect(warmupCosineLr(9, 0.01, opts)).toBeCloseTo(5e-3, 12);
    expect(warmupCosineLr(10, 0, opts)).toBeCloseTo(5e-3, 12);
    expect(warmupCosineLr(500, 0.5, opts)).toBeCloseTo(5e-3 * (0.1 + 0.9 * 0.5), 12);
    expect(warmupCosineLr(1000, 1, opts)).toBeCloseTo(5e-4, 12);
  });

  it('never rises after warm-up and stays within [floor, peak]', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (a, b) => {
          const [lo, hi] = a < b ? [a, b] : [b, a];
          const early = warmupCosineLr(20, lo, opts);
          const late = warmupCosineLr(20, hi, opts);
          return late <= early + 1e-15 && late >= 5e-4 - 1e-15 && early <= 5e-3 + 1e-15;
        },
      ),
    );
  });

  it('rejects nonsense', () => {
    expect(() => warmupCosineLr(0, 0, { ...opts, peak: 0 })).toThrow(/peak/);
    expect(() => warmupCosineLr(0, 0, { ...opts, minRatio: 2 })).toThrow(/minRatio/);
  });
});

describe('trainingProgress', () => {
  it('follows whichever budget runs out first', () => {
    expect(trainingProgress(50, 10, { maxSteps: 100 })).toBe(0.5);
    expect(trainingProgress(50, 90, { maxSteps: 100, maxSeconds: 100 })).toBe(0.9);
    expect(trainingProgress(500, 1, { maxSteps: 100 })).toBe(1);
    expect(trainingProgress(5, 5, {})).toBe(0);
  });
});
