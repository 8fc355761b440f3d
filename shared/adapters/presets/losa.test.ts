import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../tensor/tf.ts';
import { useBackend } from '../../tensor/backend.ts';
import type { Batch } from '../../model/types.ts';
import { attachAdapter } from '../index.ts';
import { FixtureModel, fixtureBatch } from '../testing/fixture-model.ts';
import { kernelsOf, maxAbs } from '../testing/helpers.ts';
import { train } from '../testing/sgd.ts';

describe('losa', () => {
  let batch: Batch;
  beforeAll(async () => {
    await useBackend('cpu');
    batch = fixtureBatch(21, 16);
  });
  afterAll(() => tf.dispose([batch.inputs, batch.targets]));

  it("merging keeps the pruned base's zeros zero; the mask is private, B shared, A derived", () => {
    const model = new FixtureModel({ seed: 3, sparsity: 0.4 });
    const zerosBefore = new Map(
      [...kernelsOf(model)].map(([k, v]) => [k, Array.from(v).flatMap((x, i) => (x === 0 ? [i] : []))]),
    );
    const adapter = attachAdapter(model, 'losa', { r: 3, alpha: 6 }, { seed: 7 });
    expect([...adapter.private().keys()]).toContain('layers.0.attn.q.mask');
    expect([...adapter.shared().keys()]).toContain('layers.0.attn.q.B');
    expect([...adapter.derived().keys()]).toContain('layers.0.attn.q.A');
    train(model, adapter, batch, 10, 0.5);
    adapter.merge();
    const after = kernelsOf(model);
    let zeros = 0;
    for (const layer of model.linears().filter((l) => l.role !== 'head')) {
      const k = after.get(layer.name)!;
      for (const i of zerosBefore.get(layer.name)!) {
        expect(k[i]).toBe(0);
        zeros++;
      }
    }
    expect(zeros).toBeGreaterThan(50);
    adapter.detach();
    model.dispose();
  });

  it('without a mask the same merge does fill the zeros (so the check above can fail)', () => {
    const model = new FixtureModel({ seed: 3, sparsity: 0.4 });
    const q = model.linears()[0]!;
    const zeroIdx = Array.from(q.kernel.dataSync()).flatMap((x, i) => (x === 0 ? [i] : []));
    const adapter = attachAdapter(model, 'losa', { r: 3, alpha: 6, mask: 'none' }, { seed: 7 });
    train(model, adapter, batch, 10, 0.5);
    adapter.merge();
    const k = q.kernel.dataSync();
    expect(zeroIdx.some((i) => k[i] !== 0)).toBe(true);
    adapter.detach();
    model.dispose();
  });

  it('per-layer ranks use a prefix of the seeded A, so clients with different ranks share it exactly', () => {
    const attach = (ranks?: Record<string, number>) => {
      const model = new FixtureModel({ seed: 3, sparsity: 0.3 });
      const adapter = attachAdapter(
        model,
        'losa',
        { r: 3, alpha: 6, roles: ['q'], ...(ranks ? { ranks } : {}) },
        { seed: 7 },
      );
      return { model, adapter };
    };
    const full = attach();
    const low = attach({ 'layers.0.attn.q': 1 });
    const A = (a: typeof full) => a.adapter.derived().get('layers.0.attn.q.A')!.dataSync();
    expect(A(low)).toEqual(A(full));
    expect(low.adapter.trainedExtent('layers.0.attn.q.B')).toBe(1);
    expect(low.adapter.trainedExtent('layers.1.attn.q.B')).toBe(3);
    train(low.model, low.adapter, batch, 5, 0.5);
    const B = low.adapter.shared().get('layers.0.attn.q.B')!.dataSync();
    expect(maxAbs(B.slice(0, 6))).toBeGreaterThan(1e-4);
    expect(maxAbs(B.slice(6))).toBe(0);
    for (const a of [full, low]) {
      a.adapter.detach();
      a.model.dispose();
    }
  });

  it('rejects per-layer ranks for unknown layers or above r', () => {
    const model = new FixtureModel({ seed: 3 });
    expect(() =>
      attachAdapter(model, 'losa', { r: 3, ranks: { 'layers.9.attn.q': 1 } }, { seed: 7 }),
    ).toThrow(/names layer 'layers\.9\.attn\.q', which is not adapted/);
    expect(() =>
      attachAdapter(model, 'losa', { r: 3, ranks: { 'layers.0.attn.q': 4 } }, { seed: 7 }),
    ).toThrow(/rank of layer layers\.0\.attn\.q must be an integer in \[1, 3\]/);
    expect(model.linears().every((l) => l.hook === null)).toBe(true);
    model.dispose();
  });
});
