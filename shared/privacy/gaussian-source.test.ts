import { describe, expect, it } from 'vitest';
import { cryptoGaussianSource, seededGaussianSource } from './gaussian-source.ts';
import { Rng } from '../tensor/rng.ts';
import { ksCritical, ksDistanceToNormal, sampleStd } from './test-stats.ts';

const N = 100_000;

describe('Gaussian sources', () => {
  it('the crypto source is standard normal (std within 2%, KS test passes at α = 1e-6)', () => {
    const out = new Float64Array(N);
    cryptoGaussianSource().addNoise(out, 1);
    expect(Math.abs(sampleStd(out) - 1)).toBeLessThan(0.02);
    // α = 1e-6: this unseeded test fails spuriously once in a million runs.
    expect(ksDistanceToNormal(out, 1)).toBeLessThan(ksCritical(N, 1e-6));
  });

  it('the crypto source draws from crypto.getRandomValues (injectable), two sources differ', () => {
    let calls = 0;
    const source = cryptoGaussianSource((buf) => {
      calls++;
      return globalThis.crypto.getRandomValues(buf);
    });
    const a = new Float64Array(20_000);
    source.addNoise(a, 1);
    expect(calls).toBeGreaterThan(1);
    const b = new Float64Array(20_000);
    cryptoGaussianSource().addNoise(b, 1);
    expect(a.some((v, i) => v !== b[i])).toBe(true);
    expect(source.kind).toBe('crypto');
  });

  it('the seeded source is reproducible and standard normal', () => {
    const a = new Float64Array(N);
    const b = new Float64Array(N);
    seededGaussianSource(new Rng(7).fork('dp')).addNoise(a, 2);
    seededGaussianSource(new Rng(7).fork('dp')).addNoise(b, 2);
    expect(a).toEqual(b);
    expect(Math.abs(sampleStd(a) - 2) / 2).toBeLessThan(0.02);
    expect(ksDistanceToNormal(a, 2)).toBeLessThan(ksCritical(N, 0.01));
  });

  it('a source that is off by a small amount fails the KS check (the check has power)', () => {
    const a = new Float64Array(N);
    seededGaussianSource(new Rng(3)).addNoise(a, 1.05);
    expect(ksDistanceToNormal(a, 1)).toBeGreaterThan(ksCritical(N, 0.01));
  });

  it('rejects a negative or non-finite std', () => {
    expect(() => cryptoGaussianSource().addNoise(new Float64Array(1), -1)).toThrow(/std/);
    expect(() => seededGaussianSource(new Rng(1)).addNoise(new Float64Array(1), NaN)).toThrow(/std/);
  });
});
