import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { HostTensorMap } from '../tensor/host-tensor.ts';
import {
  flattenUpdate,
  layoutOf,
  layoutSize,
  scaleUpdate,
  unflattenUpdate,
  updateNorm,
} from './update-vector.ts';

describe('update as one vector', () => {
  it('flatten then unflatten is the identity, in layout order (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 10 }),
          { minLength: 1, maxLength: 4 },
        ),
        (tensors) => {
          const u: HostTensorMap = new Map(
            tensors.map((v, i) => [`t${i}`, { shape: [v.length], data: Float32Array.from(v) }]),
          );
          const layout = layoutOf(u);
          const flat = flattenUpdate(u, layout);
          expect(flat.length).toBe(layoutSize(layout));
          expect(unflattenUpdate(flat, layout)).toEqual(u);
          const norm = Math.hypot(...flat);
          expect(Math.abs(updateNorm(u) - norm)).toBeLessThanOrEqual(1e-12 * norm);
        },
      ),
    );
  });

  it('rejects updates that do not match the layout', () => {
    const u: HostTensorMap = new Map([['a', { shape: [2, 2], data: new Float32Array(4) }]]);
    expect(() => flattenUpdate(u, [{ name: 'a', shape: [4] }])).toThrow(/shape/);
    expect(() => flattenUpdate(u, [{ name: 'b', shape: [2, 2] }])).toThrow(/no tensor named 'b'/);
    expect(() => flattenUpdate(u, [])).toThrow(/1 tensors/);
    expect(() => unflattenUpdate([1, 2, 3], [{ name: 'a', shape: [4] }])).toThrow(/3 values/);
  });

  it('scaleUpdate copies', () => {
    const u: HostTensorMap = new Map([['a', { shape: [2], data: Float32Array.from([1, -2]) }]]);
    const s = scaleUpdate(u, 3);
    expect([...(s.get('a')?.data ?? [])]).toEqual([3, -6]);
    expect([...(u.get('a')?.data ?? [])]).toEqual([1, -2]);
  });
});
