import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../tensor/tf.ts';
import { useBackend } from '../../tensor/backend.ts';
import { attachAdapter } from '../index.ts';
import { FixtureModel, fixtureBatch } from '../testing/fixture-model.ts';
import { train } from '../testing/sgd.ts';

describe('hetlora and fedsa-lora splits', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('hetlora allocates rank r_k, declares zero-pad-norm-weighted, reports its norm and truncates the global', () => {
    const model = new FixtureModel({ seed: 3 });
    const adapter = attachAdapter(
      model,
      'hetlora',
      { r: 4, alpha: 8, roles: ['q'] },
      { seed: 7, clientRank: 2 },
    );
    const A = adapter.shared().get('layers.0.attn.q.A')!;
    expect(A.shape).toEqual([6, 2]);
    expect(adapter.aggregation('layers.0.attn.q.A')).toEqual({ kind: 'zero-pad-norm-weighted', axis: 1 });
    expect(adapter.aggregation('layers.0.attn.q.B')).toEqual({ kind: 'zero-pad-norm-weighted', axis: 0 });
    expect(adapter.trainedExtent('layers.0.attn.q.B')).toBe(2);
    expect(adapter.aggregationNorm('layers.0.attn.q.B')).toBe(0);
    const batch = fixtureBatch(1, 8);
    train(model, adapter, batch, 3, 0.5);
    expect(adapter.aggregationNorm('layers.0.attn.q.B')).toBeGreaterThan(0);
    const global = tf.tensor2d(
      Float32Array.from({ length: 24 }, (_, i) => i),
      [6, 4],
    );
    adapter.setShared(new Map([['layers.0.attn.q.A', global]]));
    expect(Array.from(A.dataSync())).toEqual([0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21]);
    tf.dispose([global, batch.inputs, batch.targets]);
    adapter.detach();
    model.dispose();
  });

  it('fixed-rank methods refuse a client rank', () => {
    const model = new FixtureModel({ seed: 3 });
    expect(() => attachAdapter(model, 'lora', { r: 4, alpha: 8 }, { seed: 7, clientRank: 2 })).toThrow(
      /lora trains every client at the same rank r=4/,
    );
    model.dispose();
  });

  it("fedsa-lora sends A and keeps B private; lora-plus scales B's learning rate", () => {
    const model = new FixtureModel({ seed: 3 });
    const fedsa = attachAdapter(model, 'fedsa-lora', { r: 2, alpha: 4, roles: ['q'] }, { seed: 7 });
    expect([...fedsa.shared().keys()]).toEqual(['layers.0.attn.q.A', 'layers.1.attn.q.A']);
    expect([...fedsa.private().keys()]).toEqual(['layers.0.attn.q.B', 'layers.1.attn.q.B']);
    expect(() => fedsa.setShared(new Map([['layers.0.attn.q.B', tf.zeros([2, 6])]]))).toThrow(
      /not a shared tensor/,
    );
    fedsa.detach();
    const plus = attachAdapter(model, 'lora-plus', { roles: ['q'], r: 2 }, { seed: 7 });
    const scales = plus.trainableVariables().map((v) => plus.learningRateScale(v));
    expect(scales).toEqual([1, 16, 1, 16]);
    plus.detach();
    model.dispose();
  });
});
