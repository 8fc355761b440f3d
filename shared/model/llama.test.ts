import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { Rng } from '../tensor/rng.ts';
import { attachAdapter } from '../adapters/registry.ts';
import { sgdStep } from '../adapters/testing/sgd.ts';
import { parametersToHost, assignParameters } from './parameters.ts';
import { Llama, type LlamaConfigInput } from './llama.ts';
import type { Batch } from './types.ts';

const TINY: LlamaConfigInput = {
  vocabSize: 48,
  contextLength: 16,
  dModel: 24,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediateSize: 40,
};

function batchOf(rows: number, time: number, vocab: number, seed: number): Batch {
  const rng = new Rng(seed);
  const ids = Array.from({ length: rows * (time + 1) }, () => rng.int(vocab));
  const row = (r: number, shift: number) => ids.slice(r * (time + 1) + shift, r * (time + 1) + shift + time);
  return {
    inputs: tf.tensor2d(
      Array.from({ length: rows }, (_, r) => row(r, 0)),
      [rows, time],
      'int32',
    ),
    targets: tf.tensor2d(
      Array.from({ length: rows }, (_, r) => row(r, 1)),
      [rows, time],
      'int32',
    ),
  };
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('Llama', () => {
  const batch = batchOf(2, 10, TINY.vocabSize, 3);
  afterAll(() => tf.dispose([batch.inputs, batch.targets]));

  it('produces [B, T, vocab] logits and names its Linears with the Llama roles', () => {
    const m = new Llama(TINY, { seed: 1 });
    const logits = m.logits(batch.inputs as tf.Tensor2D);
    expect(logits.shape).toEqual([2, 10, 48]);
    expect(logits.dataSync().every(Number.isFinite)).toBe(true);
    logits.dispose();
    expect(
      m
        .linears()
        .map((l) => l.role)
        .slice(0, 7),
    ).toEqual(['q', 'k', 'v', 'o', 'gate', 'up', 'down']);
    // GQA: k and v project to kvHeads * headDim = 12.
    expect(m.blocks[0]!.k.outDim).toBe(12);
    expect(m.blocks[0]!.q.outDim).toBe(24);
    expect(m.head?.role).toBe('head');
    m.dispose();
  });

  it('is causal: logits at position t do not depend on later tokens', () => {
    const m = new Llama(TINY, { seed: 2 });
    const a = tf.tensor2d([[1, 2, 3, 4, 5]], [1, 5], 'int32');
    const b = tf.tensor2d([[1, 2, 3, 9, 7]], [1, 5], 'int32');
    const la = m.logits(a).arraySync()[0]!;
    const lb = m.logits(b).arraySync()[0]!;
    for (let t = 0; t < 3; t++) for (let j = 0; j < 48; j++) expect(la[t]![j]).toBeCloseTo(lb[t]![j]!, 5);
    expect(Math.abs(la[3]![0]! - lb[3]![0]!)).toBeGreaterThan(0);
    tf.dispose([a, b]);
    m.dispose();
  });

  it('grouped-query attention equals multi-head attention with each kv head duplicated', () => {
    const gqa = new Llama(TINY, { seed: 4 });
    const mha = new Llama({ ...TINY, kvHeads: 4 }, { seed: 0, initialize: false });
    const weights = parametersToHost(gqa);
    // kv head j serves query heads 2j and 2j+1: duplicate each 6-column head block of k and v.
    for (let i = 0; i < 2; i++) {
      for (const r of ['k', 'v']) {
        const t = weights.get(`layers.${i}.attn.${r}.kernel`)!;
        const out = new Float32Array(24 * 24);
        for (let row = 0; row < 24; row++) {
          for (let h = 0; h < 4; h++) {
            const src = Math.floor(h / 2) * 6;
            out.set(t.data.subarray(row * 12 + src, row * 12 + src + 6), row * 24 + h * 6);
          }
        }
        weights.set(`layers.${i}.attn.${r}.kernel`, { shape: [24, 24], data: out });
      }
    }
    assignParameters(mha, weights);
    const a = gqa.logits(batch.inputs as tf.Tensor2D);
    const b = mha.logits(batch.inputs as tf.Tensor2D);
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([a, b]);
    gqa.dispose();
    mha.dispose();
  });

  it('ties the head to the embedding when asked and has q/k/v biases for Qwen2', () => {
    const m = new Llama({ ...TINY, tiedHead: true, qkvBias: true }, { seed: 1 });
    expect(m.head).toBeNull();
    const names = [...m.parameters().keys()];
    expect(names).toContain('layers.0.attn.q.bias');
    expect(names).not.toContain('layers.0.attn.o.bias');
    expect(names).not.toContain('head.kernel');
    m.dispose();
  });

  it('rejects impossible head layouts with an actionable message', () => {
    expect(() => new Llama({ ...TINY, kvHeads: 3 }, { seed: 0 })).toThrow(/multiple of kvHeads/);
    expect(() => new Llama({ ...TINY, heads: 5 }, { seed: 0 })).toThrow(/divisible by heads/);
  });

  for (const [method, config] of [
    ['pica', { r: 4 }],
    ['cla', { r: 4, roles: ['q', 'v', 'gate'] }],
    ['lora', { r: 4, roles: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] }],
  ] as const) {
    it(`${method} attaches unchanged, trains, and keeps tf.memory() flat`, () => {
      const m = new Llama(TINY, { seed: 7 });
      const adapter = attachAdapter(m, method, config, { seed: 1 });
      const first = sgdStep(m, adapter, batch, 0.05);
      const before = tf.memory().numTensors;
      let last = first;
      for (let s = 0; s < 6; s++) last = sgdStep(m, adapter, batch, 0.05);
      expect(tf.memory().numTensors).toBe(before);
      expect(last).toBeLessThan(first);
      adapter.detach();
      m.dispose();
    });
  }

  it('generates in-vocabulary tokens', () => {
    const m = new Llama(TINY, { seed: 1 });
    const out = m.generate([1, 2, 3], 4, { temperature: 0 });
    expect(out).toHaveLength(4);
    expect(out.every((id) => id >= 0 && id < 48)).toBe(true);
    m.dispose();
  });
});
