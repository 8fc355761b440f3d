import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { Gpt } from '../model/gpt.ts';
import type { AdaptableModel, Batch } from '../model/types.ts';
import { AdamW } from './adamw.ts';
import { ProximalTerm } from './fedprox.ts';
import { trainStep } from './train-step.ts';

beforeAll(async () => {
  await useBackend('cpu');
});

function batchOf(rows: number[][]): Batch {
  const time = rows[0]!.length - 1;
  return {
    inputs: tf.tensor2d(
      rows.map((r) => r.slice(0, time)),
      [rows.length, time],
      'int32',
    ),
    targets: tf.tensor2d(
      rows.map((r) => r.slice(1)),
      [rows.length, time],
      'int32',
    ),
  };
}

describe('trainStep', () => {
  it('keeps tf.memory().numTensors flat over 20 steps (frozen base, adapter-style variable)', () => {
    const m = new Gpt({ vocabSize: 16, contextLength: 8, dModel: 8, layers: 1, heads: 2 }, { seed: 1 });
    // An adapter-like trainable side path on every q: x @ delta (delta starts at zero).
    const delta = tf.variable(tf.zeros([8, 8]), true, 'step.delta');
    for (const l of m.linears().filter((x) => x.role === 'q')) {
      l.hook = { forward: (x, base) => tf.add(base.baseForward(x), tf.matMul(x, delta)) };
    }
    const batch = batchOf([
      [1, 2, 3, 4, 5, 6],
      [6, 5, 4, 3, 2, 1],
    ]);
    const opt = new AdamW({ learningRate: 0.05 });
    const losses = [trainStep(m, batch, [delta], opt)];
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) losses.push(trainStep(m, batch, [delta], opt));
    expect(tf.memory().numTensors).toBe(before);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    // The base stayed frozen: only delta moved.
    expect(m.parameters().get('layers.0.attn.q.kernel')!.trainable).toBe(false);
    tf.dispose([batch.inputs, batch.targets, delta]);
    opt.dispose();
    m.dispose();
  });

  it('refuses variables that are not trainable, saying how to fix it', () => {
    const m = new Gpt({ vocabSize: 16, contextLength: 8, dModel: 8, layers: 1, heads: 2 }, { seed: 1 });
    const batch = batchOf([[1, 2, 3]]);
    const opt = new AdamW();
    expect(() => trainStep(m, batch, [...m.parameters().values()], opt)).toThrow(/setBaseTrainable\(true\)/);
    expect(() => trainStep(m, batch, [], opt)).toThrow(/no variables/);
    tf.dispose([batch.inputs, batch.targets]);
    m.dispose();
  });

  it('FedProx pulls the trained variables toward the global reference', () => {
    // A loss whose minimum (w = 3) is far from the global reference (w = 0).
    const w = tf.variable(tf.zeros([4]), true, 'prox.w');
    const model = {
      loss: () => tf.sum(tf.square(tf.sub(w, 3))),
    } as unknown as AdaptableModel;
    const batch = { inputs: tf.zeros([1]), targets: tf.zeros([1]) };
    const train = (mu: number | null): number => {
      w.assign(tf.zeros([4]));
      const opt = new AdamW({ learningRate: 0.1, weightDecay: 0 });
      const proximal = mu === null ? undefined : new ProximalTerm(mu);
      proximal?.setReference([w]);
      for (let i = 0; i < 200; i++) trainStep(model, batch, [w], opt, proximal ? { proximal } : {});
      if (proximal) {
        // Penalty value: mu/2 * 4 * w^2.
        const wv = w.dataSync()[0]!;
        expect(proximal.penalty([w])).toBeCloseTo((mu! / 2) * 4 * wv * wv, 3);
        proximal.dispose();
      }
      opt.dispose();
      return w.dataSync()[0]!;
    };
    const free = train(null);
    const prox = train(2);
    expect(free).toBeCloseTo(3, 1);
    // Minimum of (w-3)^2 + (2/2) w^2 is w = 1.5.
    expect(prox).toBeCloseTo(1.5, 1);
    tf.dispose([w, batch.inputs, batch.targets]);
  });

  it('skips the update when the loss is not finite', () => {
    const w = tf.variable(tf.ones([2]), true, 'nan.w');
    const model = { loss: () => tf.mul(tf.sum(w), NaN) } as unknown as AdaptableModel;
    const opt = new AdamW();
    const batch = { inputs: tf.zeros([1]), targets: tf.zeros([1]) };
    expect(trainStep(model, batch, [w], opt)).toBeNaN();
    expect(Array.from(w.dataSync())).toEqual([1, 1]);
    expect(opt.step).toBe(0);
    tf.dispose([w, batch.inputs, batch.targets]);
  });
});
