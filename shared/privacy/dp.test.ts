import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { HostTensorMap } from '../tensor/host-tensor.ts';
import {
  addCentralNoise,
  addDistributedNoise,
  centralNoiseStd,
  clipUpdate,
  distributedNoiseStd,
  localDp,
} from './dp.ts';
import { seededGaussianSource } from './gaussian-source.ts';
import { updateNorm } from './update-vector.ts';
import { Rng } from '../tensor/rng.ts';
import { ksCritical, ksDistanceToNormal, sampleStd } from './test-stats.ts';

function update(...tensors: number[][]): HostTensorMap {
  return new Map(
    tensors.map((values, i) => [`t${i}`, { shape: [values.length], data: Float32Array.from(values) }]),
  );
}

const zeros = (n: number): HostTensorMap => new Map([['b', { shape: [n], data: new Float32Array(n) }]]);

describe('client-level clipping', () => {
  it('bounds the norm of every update by C, and leaves updates already within C unchanged (property)', () => {
    const finite = fc.float({ min: -1e4, max: 1e4, noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(
        fc.array(fc.array(finite, { minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 4 }),
        fc.double({ min: 1e-3, max: 100, noNaN: true }),
        (tensors, clipNorm) => {
          const u = update(...tensors);
          const before = updateNorm(u);
          const r = clipUpdate(u, clipNorm);
          expect(updateNorm(r.update)).toBeLessThanOrEqual(clipNorm);
          expect(r.norm).toBe(before);
          expect(updateNorm(u)).toBe(before); // input untouched
          if (before <= clipNorm) {
            expect(r.clipped).toBe(false);
            for (const [name, t] of u) expect(r.update.get(name)?.data).toEqual(t.data);
          } else {
            // Clipping keeps the direction and lands at the bound (within float32 rounding).
            expect(r.clipped).toBe(true);
            expect(updateNorm(r.update) / clipNorm).toBeGreaterThan(1 - 1e-5);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('clips the update as one vector across tensors, not per tensor', () => {
    const r = clipUpdate(update([3, 0], [0, 4]), 1);
    expect(r.norm).toBe(5);
    expect(r.update.get('t0')?.data[0]).toBeCloseTo(0.6, 5);
    expect(r.update.get('t1')?.data[1]).toBeCloseTo(0.8, 5);
  });

  it('rejects a non-positive clip norm', () => {
    expect(() => clipUpdate(update([1]), 0)).toThrow(/clip norm/);
  });
});

describe('Gaussian noise has standard deviation z·C (not variance)', () => {
  const N = 100_000;
  it('central noise on the sum: sample std within 2% of z·C and a KS test against N(0, (zC)²) passes', () => {
    const params = { noiseMultiplier: 1.5, clipNorm: 2 }; // std 3; the DISCO bug (variance) would give std 9
    expect(centralNoiseStd(params)).toBe(3);
    const noised = addCentralNoise(zeros(N), params, seededGaussianSource(new Rng(11).fork('central')));
    const data = noised.get('b')?.data as Float32Array;
    expect(Math.abs(sampleStd(data) - 3) / 3).toBeLessThan(0.02);
    expect(ksDistanceToNormal(data, 3)).toBeLessThan(ksCritical(N, 0.01));
    expect(ksDistanceToNormal(data, 9)).toBeGreaterThan(ksCritical(N, 0.01));
  });

  it('distributed noise: each of n clients adds N(0, (zC)²/n), and the sum has std z·C', () => {
    const n = 8;
    const params = { noiseMultiplier: 1.2, clipNorm: 0.5, minClients: n };
    expect(distributedNoiseStd(params)).toBeCloseTo(0.6 / Math.sqrt(n), 15);
    const sum = new Float64Array(N / 4);
    const rng = new Rng(5);
    for (let c = 0; c < n; c++) {
      const share = addDistributedNoise(zeros(N / 4), params, seededGaussianSource(rng.fork(`client-${c}`)));
      const d = share.get('b')?.data as Float32Array;
      expect(Math.abs(sampleStd(d) - 0.6 / Math.sqrt(n)) / (0.6 / Math.sqrt(n))).toBeLessThan(0.03);
      for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] as number) + (d[i] as number);
    }
    expect(Math.abs(sampleStd(sum) - 0.6) / 0.6).toBeLessThan(0.03);
    expect(ksDistanceToNormal(sum, 0.6)).toBeLessThan(ksCritical(sum.length, 0.01));
  });

  it('local DP: the client clips to C then adds N(0, (zC)²) itself', () => {
    const big = new Float32Array(N).fill(1); // norm √N >> C
    const r = localDp(
      new Map([['w', { shape: [N], data: big }]]),
      { noiseMultiplier: 1, clipNorm: 1 },
      seededGaussianSource(new Rng(2)),
    );
    expect(r.clipped).toBe(true);
    const d = r.update.get('w')?.data as Float32Array;
    const mean = 1 / Math.sqrt(N); // each clipped coordinate
    expect(Math.abs(sampleStd(d, mean) - 1)).toBeLessThan(0.02);
  });

  it('the noise is reproducible with a seeded source and differs with another seed', () => {
    const p = { noiseMultiplier: 1, clipNorm: 1 };
    const a = addCentralNoise(zeros(100), p, seededGaussianSource(new Rng(1)));
    const b = addCentralNoise(zeros(100), p, seededGaussianSource(new Rng(1)));
    const c = addCentralNoise(zeros(100), p, seededGaussianSource(new Rng(2)));
    expect(a.get('b')?.data).toEqual(b.get('b')?.data);
    expect(a.get('b')?.data).not.toEqual(c.get('b')?.data);
  });

  it('rejects nonsense parameters', () => {
    expect(() => centralNoiseStd({ noiseMultiplier: -1, clipNorm: 1 })).toThrow(/noise multiplier/);
    expect(() => distributedNoiseStd({ noiseMultiplier: 1, clipNorm: 1, minClients: 0 })).toThrow(
      /minClients/,
    );
  });
});
