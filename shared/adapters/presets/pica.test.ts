import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../tensor/tf.ts';
import { useBackend } from '../../tensor/backend.ts';
import type { Batch } from '../../model/types.ts';
import { attachAdapter } from '../index.ts';
import { FixtureModel, fixtureBatch } from '../testing/fixture-model.ts';
import { maxAbs, maxAbsDiff } from '../testing/helpers.ts';
import { train } from '../testing/sgd.ts';

describe('pica', () => {
  let batch: Batch;
  beforeAll(async () => {
    await useBackend('cpu');
    batch = fixtureBatch(5, 16);
  });
  afterAll(() => tf.dispose([batch.inputs, batch.targets]));

  it('shares one B per role, keeps U_l derived, and has no scale', () => {
    const model = new FixtureModel({ seed: 3 });
    const adapter = attachAdapter(model, 'pica', { r: 2 }, { seed: 7 });
    expect([...adapter.shared().keys()]).toEqual([
      'role.q.B',
      'role.k.B',
      'role.v.B',
      'role.up.B',
      'role.down.B',
    ]);
    expect(adapter.shared().get('role.up.B')!.shape).toEqual([2, 8]);
    expect([...adapter.derived().keys()]).toContain('layers.1.mlp.down.U');
    expect(adapter.derived().get('layers.1.mlp.down.U')!.shape).toEqual([8, 2]);
    expect(adapter.private().size).toBe(0);
    expect(adapter.aggregation('role.q.B')).toEqual({ kind: 'nested-prefix-mean', axis: 0 });
    // U_l has orthonormal columns: U^T U = I.
    const U = adapter.derived().get('layers.0.attn.q.U')!;
    const gram = tf.tidy(() => tf.matMul(tf.transpose(U), U));
    expect(maxAbsDiff(gram.dataSync(), [1, 0, 0, 1])).toBeLessThan(1e-5);
    gram.dispose();
    adapter.detach();
    model.dispose();
  });

  it('independent attaches of the same base give identical signatures; a perturbed base does not', () => {
    const sig = (perturb: boolean) => {
      const model = new FixtureModel({ seed: 3 });
      if (perturb) {
        const l = model.linears()[0]!;
        const next = tf.tidy(() => tf.add(l.kernel, tf.mul(tf.onesLike(l.kernel), 0.05)));
        l.assignKernel(next as tf.Tensor2D);
        next.dispose();
      }
      const adapter = attachAdapter(model, 'pica', { r: 2 }, { seed: 7 });
      const s = adapter.signature();
      adapter.detach();
      model.dispose();
      return s;
    };
    const a = sig(false);
    const b = sig(false);
    const c = sig(true);
    // 5 roles x 2 layers x r = 2 values: U_l^T z per layer.
    expect(a.length).toBe(20);
    expect(b).toEqual(a);
    expect(maxAbsDiff(a, c)).toBeGreaterThan(1e-3);
  });

  it('nested ranks: a client of rank r_k trains only the first r_k rows of the full-size B_role', () => {
    const model = new FixtureModel({ seed: 3 });
    const adapter = attachAdapter(model, 'pica', { r: 3 }, { seed: 7, clientRank: 1 });
    const B = adapter.shared().get('role.up.B')!;
    expect(B.shape).toEqual([3, 8]);
    expect(adapter.trainedExtent('role.up.B')).toBe(1);
    train(model, adapter, batch, 5, 0.3);
    const data = B.dataSync();
    expect(maxAbs(data.slice(0, 8))).toBeGreaterThan(1e-3);
    expect(maxAbs(data.slice(8))).toBe(0);
    // The coordinator may send only the client's prefix: it is written, the rest kept.
    const prefix = tf.fill([1, 8], 0.5);
    adapter.setShared(new Map([['role.up.B', prefix]]));
    expect(Array.from(B.dataSync().slice(0, 8))).toEqual(new Array(8).fill(0.5));
    expect(maxAbs(B.dataSync().slice(8))).toBe(0);
    prefix.dispose();
    adapter.detach();
    model.dispose();
  });

  it("output projection (the paper's form) shares A_role [in, r] and keeps V_l^T derived", () => {
    const model = new FixtureModel({ seed: 3 });
    const adapter = attachAdapter(
      model,
      'pica',
      { r: 2, projection: 'output', roles: ['q', 'up'] },
      { seed: 7 },
    );
    expect(adapter.shared().get('role.up.A')!.shape).toEqual([6, 2]);
    expect(adapter.derived().get('layers.0.mlp.up.Vt')!.shape).toEqual([2, 8]);
    expect(adapter.aggregation('role.up.A')).toEqual({ kind: 'nested-prefix-mean', axis: 1 });
    adapter.detach();
    model.dispose();
  });

  it('rejects a rank larger than a layer allows', () => {
    const model = new FixtureModel({ seed: 3 });
    expect(() => attachAdapter(model, 'pica', { r: 7 }, { seed: 7 })).toThrow(
      /r=7 is larger than layer layers\.0\.attn\.q's dims \[6, 6\]/,
    );
    model.dispose();
  });
});
