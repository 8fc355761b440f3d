import { DpPlacement } from '../../shared/wire/messages.ts';
import { describe, expect, it } from 'vitest';
import { seededGaussianSource } from '../../shared/privacy/gaussian-source.ts';
import { ksCritical, ksDistanceToNormal, sampleStd } from '../../shared/privacy/test-stats.ts';
import { updateNorm } from '../../shared/privacy/update-vector.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { Rng } from '../../shared/tensor/rng.ts';
import {
  deltaFrom,
  effectiveNoise,
  noiseRequestFromInstruction,
  privatizeUpdate,
  type ClientNoiseRequest,
} from './update-privacy.ts';

const map = (values: number[]): HostTensorMap =>
  new Map([['B', { shape: [values.length], data: Float32Array.from(values) }]]);
const source = (seed: number) => seededGaussianSource(new Rng(seed).fork('test'));

describe('client update privacy', () => {
  it('clips the delta from the global to C before it leaves the device', () => {
    const global = map([1, 1, 1]);
    const updated = map([1 + 3, 1 + 4, 1]);
    const out = privatizeUpdate(updated, global, { clipNorm: 1, noiseStd: 0 }, source(1));
    expect(out.norm).toBeCloseTo(5, 6);
    expect(out.clipped).toBe(true);
    expect(updateNorm(out.delta)).toBeLessThanOrEqual(1);
    expect(Array.from(out.delta.get('B')!.data)).toEqual([expect.closeTo(0.6, 5), expect.closeTo(0.8, 5), 0]);
    // tensors = global + delta, what a plaintext upload carries.
    expect(Array.from(out.tensors.get('B')!.data)).toEqual([
      expect.closeTo(1.6, 5),
      expect.closeTo(1.8, 5),
      1,
    ]);
    // Without a request the delta passes unchanged.
    const plain = privatizeUpdate(updated, global, null, source(1));
    expect(Array.from(plain.delta.get('B')!.data)).toEqual([3, 4, 0]);
  });

  it('adds noise with the requested standard deviation (statistical)', () => {
    const n = 30_000;
    const global = map(new Array(n).fill(0));
    const std = 0.37;
    const out = privatizeUpdate(global, global, { clipNorm: 1, noiseStd: std }, source(5));
    const noise = out.delta.get('B')!.data;
    expect(Math.abs(sampleStd(noise) / std - 1)).toBeLessThan(0.025);
    expect(ksDistanceToNormal(noise, std)).toBeLessThan(ksCritical(n, 0.001));
  });

  it('reads the coordinator request and combines it with the client local-DP option', () => {
    expect(noiseRequestFromInstruction(null)).toBeNull();
    expect(
      noiseRequestFromInstruction({ placement: DpPlacement.CENTRAL, clipNorm: 1, noiseStd: 0 }),
    ).toBeNull();
    const req = noiseRequestFromInstruction({
      placement: DpPlacement.DISTRIBUTED,
      clipNorm: 2,
      noiseStd: 0.5,
    });
    expect(req).toEqual({ clipNorm: 2, noiseStd: 0.5 });
    expect(noiseRequestFromInstruction({ placement: DpPlacement.LOCAL, clipNorm: 3, noiseStd: 1 })).toEqual({
      clipNorm: 3,
      noiseStd: 1,
    });
    expect(() =>
      noiseRequestFromInstruction({ placement: DpPlacement.DISTRIBUTED, clipNorm: 0, noiseStd: 0.5 }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_DP_CONFIG' }));
    const local = { clipNorm: 1, noiseMultiplier: 1.5 };
    expect(effectiveNoise(null, local)).toEqual({ clipNorm: 1, noiseStd: 1.5 });
    expect(effectiveNoise(req, undefined)).toEqual(req);
    // Both: smaller C, larger std, so both guarantees (std/C >= z each) hold.
    const both = effectiveNoise(req, local) as ClientNoiseRequest;
    expect(both).toEqual({ clipNorm: 1, noiseStd: 1.5 });
    expect(both.noiseStd / both.clipNorm).toBeGreaterThanOrEqual(1.5);
    expect(both.noiseStd / both.clipNorm).toBeGreaterThanOrEqual((req as ClientNoiseRequest).noiseStd / 2);
  });

  it('refuses an update that does not match the global tensors', () => {
    expect(() => deltaFrom(map([1, 2]), map([1, 2, 3]))).toThrow(
      expect.objectContaining({ code: 'UPDATE_LAYOUT_MISMATCH' }),
    );
  });
});
