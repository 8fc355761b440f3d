import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { Rng } from '../tensor/rng.ts';
import { AdamW } from '../train/adamw.ts';
import { trainStep } from '../train/train-step.ts';
import { Gpt } from './gpt.ts';
import { createModel } from './zoo.ts';

const TINY = { vocabSize: 16, contextLength: 8, dModel: 8, layers: 1, heads: 2 };

function ids(rows: number[][]): tf.Tensor2D {
  return tf.tensor2d(rows, [rows.length, rows[0]?.length ?? 0], 'int32');
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('Gpt', () => {
  it('names every adaptable layer and exposes every base parameter', () => {
    const m = createModel('test-gpt', { seed: 1 });
    expect(m.linears().map((l) => `${l.name}:${l.role}`)).toEqual([
      'layers.0.attn.q:q',
      'layers.0.attn.k:k',
      'layers.0.attn.v:v',
      'layers.0.attn.o:o',
      'layers.0.mlp.up:up',
      'layers.0.mlp.down:down',
      'layers.1.attn.q:q',
      'layers.1.attn.k:k',
      'layers.1.attn.v:v',
      'layers.1.attn.o:o',
      'layers.1.mlp.up:up',
      'layers.1.mlp.down:down',
      'head:head',
    ]);
    const params = m.parameters();
    expect(params.get('layers.0.mlp.up.kernel')?.shape).toEqual([32, 128]);
    expect(params.get('embed.token')?.shape).toEqual([256, 32]);
    expect([...params.values()].every((v) => !v.trainable)).toBe(true);
    m.dispose();
  });

  it('produces [B, T, vocab] logits and a loss near ln(vocab) at initialisation', () => {
    const m = new Gpt(TINY, { seed: 3 });
    const x = ids([
      [1, 2, 3, 4, 5],
      [6, 7, 8, 9, 10],
    ]);
    const logits = m.logits(x);
    expect(logits.shape).toEqual([2, 5, 16]);
    const loss = m.loss({ inputs: x, targets: x });
    expect(Math.abs(loss.dataSync()[0]! - Math.log(16))).toBeLessThan(0.2);
    tf.dispose([x, logits, loss]);
    m.dispose();
  });

  it('is causal: changing a future token leaves earlier logits unchanged', () => {
    const m = new Gpt(TINY, { seed: 5 });
    const a = ids([[1, 2, 3, 4, 5, 6]]);
    const b = ids([[1, 2, 3, 9, 5, 6]]);
    const la = tf.tidy(() => m.logits(a).arraySync()[0]!);
    const lb = tf.tidy(() => m.logits(b).arraySync()[0]!);
    for (let t = 0; t < 3; t++) {
      for (let v = 0; v < 16; v++) expect(lb[t]![v]).toBeCloseTo(la[t]![v]!, 6);
    }
    // ...and the changed position (and later) does change: the test can fail.
    expect(Math.max(...la[3]!.map((x, v) => Math.abs(x - lb[3]![v]!)))).toBeGreaterThan(1e-4);
    tf.dispose([a, b]);
    m.dispose();
  });

  it('learns a tiny repeated corpus (full training), without leaking tensors', () => {
    const m = new Gpt({ ...TINY, layers: 2 }, { seed: 11 });
    m.setBaseTrainable(true);
    const vars = [...m.parameters().values()];
    const opt = new AdamW({ learningRate: 1e-2, weightDecay: 0 });
    const seq = [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1];
    const inputs = ids([seq.slice(0, 8), seq.slice(4, 12)]);
    const targets = ids([seq.slice(1, 9), seq.slice(5, 13)]);
    const batch = { inputs, targets };
    const first = trainStep(m, batch, vars, opt);
    const before = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 40; i++) last = trainStep(m, batch, vars, opt);
    expect(tf.memory().numTensors).toBe(before);
    expect(last).toBeLessThan(first * 0.25);
    tf.dispose([inputs, targets]);
    opt.dispose();
    m.dispose();
  });

  it('gives no gradient to frozen base weights but trains through them to an input-side variable', () => {
    const m = new Gpt(TINY, { seed: 2 });
    const x = ids([[1, 2, 3, 4]]);
    // A stand-in for an adapter: a trainable scale on the first block's q output via a hook.
    const scale = tf.variable(tf.ones([8]), true, 'test.scale');
    const q = m.linears()[0]!;
    q.hook = { forward: (input, base) => tf.mul(base.baseForward(input), scale) };
    const { value, grads } = tf.variableGrads(
      () => m.loss({ inputs: x, targets: x }),
      [scale, m.parameters().get('layers.0.attn.q.kernel')!],
    );
    expect(grads['test.scale']).toBeTruthy();
    expect(grads['layers.0.attn.q.kernel']).toBeNull();
    expect(tf.sum(tf.abs(grads['test.scale']!)).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([value, x, scale, ...Object.values(grads).filter((g): g is tf.Tensor => g !== null)]);
    q.hook = null;
    m.dispose();
  });

  it('supports a tied head (frozen and trainable paths agree)', () => {
    const m = new Gpt({ ...TINY, tiedHead: true }, { seed: 4 });
    expect(m.head).toBeNull();
    expect(m.linears().some((l) => l.role === 'head')).toBe(false);
    const x = ids([[3, 1, 4, 1, 5]]);
    const frozen = tf.tidy(() => m.logits(x).arraySync());
    m.setBaseTrainable(true);
    const trainable = tf.tidy(() => m.logits(x).arraySync());
    expect(trainable).toEqual(frozen);
    // Tied really means logits = h · wte^T (computed here independently with the stock transposed matMul).
    const diff = tf.tidy(() => {
      const expected = tf.matMul(m.hidden(x), m.tokenEmbedding, false, true);
      return tf.max(tf.abs(tf.sub(tf.reshape(m.logits(x), expected.shape), expected))).dataSync()[0]!;
    });
    expect(diff).toBeLessThan(1e-5);
    tf.dispose(x);
    m.dispose();
  });

  it('generates deterministically from a seed, greedy at temperature 0', () => {
    const m = new Gpt(TINY, { seed: 9 });
    const greedy = m.generate([1, 2, 3], 5, { temperature: 0 });
    expect(greedy).toHaveLength(5);
    expect(m.generate([1, 2, 3], 5, { temperature: 0 })).toEqual(greedy);
    const s1 = m.generate([1], 12, { temperature: 1, topK: 4, rng: new Rng(1) });
    const s2 = m.generate([1], 12, { temperature: 1, topK: 4, rng: new Rng(1) });
    expect(s1).toEqual(s2);
    expect(s1.every((t) => t >= 0 && t < 16)).toBe(true);
    expect(() => m.generate([99], 1)).toThrow(/outside the vocabulary/);
    m.dispose();
  });

  it('lets two models with the same layer names coexist, and frees everything on dispose', () => {
    const start = tf.memory().numTensors;
    const a = new Gpt(TINY, { seed: 1 });
    const b = new Gpt(TINY, { seed: 1 });
    const x = ids([[1, 2, 3]]);
    expect(tf.tidy(() => b.logits(x).arraySync())).toEqual(tf.tidy(() => a.logits(x).arraySync()));
    x.dispose();
    a.dispose();
    b.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('rejects invalid configs and unknown model names with actionable messages', () => {
    expect(() => new Gpt({ ...TINY, heads: 3 }, { seed: 1 })).toThrow(/divisible by heads/);
    expect(() => createModel('huge-gpt', { seed: 1 })).toThrow(
      /Valid models: test-gpt, tiny-gpt, small-gpt, test-llama, tiny-llama, mlp-classifier/,
    );
    expect(() => createModel('tiny-gpt', { seed: 1, inputDim: 3 })).toThrow(/does not apply/);
    const m = new Gpt(TINY, { seed: 1 });
    const long = ids([[1, 2, 3, 4, 5, 6, 7, 8, 9]]);
    expect(() => m.logits(long)).toThrow(/exceeds the context length 8/);
    long.dispose();
    m.dispose();
  });
});
