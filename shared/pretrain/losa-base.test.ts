import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { createModel } from '../model/zoo.ts';
import { buildTokenStream } from '../data/lm-batches.ts';
import { attachAdapter } from '../adapters/registry.ts';
import { pruneBaseForLosa } from './losa-base.ts';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('pruneBaseForLosa', () => {
  it('prunes the targeted kernels to the sparsity, allocates the rank budget, and leaks nothing', () => {
    const before = tf.memory().numTensors;
    const model = createModel('test-gpt', { seed: 2 });
    const stream = buildTokenStream(['the whale swam past the ship at dawn. '.repeat(40)]);
    const roles = ['q', 'v', 'up'] as const;
    const result = pruneBaseForLosa(model, stream, { sparsity: 0.5, roles, targetRank: 4, maxRank: 8 });
    expect(result.sparsity).toBeCloseTo(0.5, 2);
    const targeted = model.linears().filter((l) => (roles as readonly string[]).includes(l.role));
    expect(Object.keys(result.ranks).sort()).toEqual(targeted.map((l) => l.name).sort());
    const ranks = Object.values(result.ranks);
    expect(ranks.reduce((a, b) => a + b, 0)).toBe(4 * targeted.length);
    expect(ranks.every((r) => r >= 1 && r <= 8)).toBe(true);
    for (const l of model.linears()) {
      const zeros = l.kernel.dataSync().filter((v) => v === 0).length / l.kernel.size;
      if (targeted.includes(l)) expect(zeros, l.name).toBeCloseTo(0.5, 2);
      else expect(zeros, l.name).toBe(0);
    }
    // The LoSA preset accepts the allocation as its per-layer ranks.
    const adapter = attachAdapter(
      model,
      'losa',
      { r: 8, roles: [...roles], ranks: result.ranks },
      { seed: 0 },
    );
    adapter.detach();
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
