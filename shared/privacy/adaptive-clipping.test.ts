import { describe, expect, it } from 'vitest';
import { AdaptiveClipper, adaptiveUpdateNoiseMultiplier } from './adaptive-clipping.ts';
import { seededGaussianSource } from './gaussian-source.ts';
import { Rng } from '../tensor/rng.ts';

describe('adaptive quantile clipping (Andrew et al. 2021)', () => {
  it('converges to the target quantile of the update norms, with noise on the count', () => {
    // Update norms are log-normal, 3·e^{0.5·N(0,1)}: median 3, 90% quantile 3·e^{0.5·1.2816}.
    const rng = new Rng(42);
    const source = seededGaussianSource(rng.fork('count'));
    const m = 200;
    for (const [gamma, expected] of [
      [0.5, 3],
      [0.9, 3 * Math.exp(1.2815515655446004 * 0.5)],
    ] as const) {
      const clipper = new AdaptiveClipper({
        initialClipNorm: 0.1,
        expectedClients: m,
        targetQuantile: gamma,
      });
      const history: number[] = [];
      for (let round = 0; round < 300; round++) {
        let sum = 0;
        for (let i = 0; i < m; i++)
          sum += AdaptiveClipper.indicator(3 * Math.exp(0.5 * rng.normal()), clipper.clipNorm);
        clipper.update(sum, source);
        history.push(clipper.clipNorm);
      }
      const late = history.slice(-100);
      const avg = late.reduce((a, b) => a + b, 0) / late.length;
      expect(Math.abs(avg - expected) / expected).toBeLessThan(0.1);
    }
  });

  it('moves C geometrically: all clipped -> grows by e^{η γ}, none clipped -> shrinks by e^{-η(1-γ)} (no count noise)', () => {
    const zero = seededGaussianSource({ normal: () => 0 });
    const c = new AdaptiveClipper({
      initialClipNorm: 1,
      expectedClients: 10,
      countNoiseStd: 0,
      learningRate: 0.2,
    });
    c.update(-5, zero); // every client above C (10 × -½)
    expect(c.clipNorm).toBeCloseTo(Math.exp(0.2 * 0.5), 12);
    c.update(5, zero); // every client within C
    expect(c.clipNorm).toBeCloseTo(1, 12);
    expect(AdaptiveClipper.indicator(1, 1)).toBe(0.5);
    expect(AdaptiveClipper.indicator(1.01, 1)).toBe(-0.5);
  });

  it('adjusts the update noise multiplier so updates + count compose to the accounted z', () => {
    const z = 1;
    const sigmaB = 200 / 20;
    const zDelta = adaptiveUpdateNoiseMultiplier(z, sigmaB);
    expect(zDelta).toBeGreaterThan(z);
    expect(zDelta ** -2 + (2 * sigmaB) ** -2).toBeCloseTo(z ** -2, 12);
    expect(() => adaptiveUpdateNoiseMultiplier(1, 0.4)).toThrow(/2σ_b > z/);
  });

  it('validates its options', () => {
    expect(() => new AdaptiveClipper({ initialClipNorm: 0, expectedClients: 10 })).toThrow(
      /initial clip norm/,
    );
    expect(() => new AdaptiveClipper({ initialClipNorm: 1, expectedClients: 10, targetQuantile: 1 })).toThrow(
      /quantile/,
    );
  });
});
