import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { Rng } from '../tensor/rng.ts';
import { AdamW } from '../train/adamw.ts';
import { trainStep } from '../train/train-step.ts';
import { MlpClassifier } from './mlp-classifier.ts';
import { createModel } from './zoo.ts';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('MlpClassifier', () => {
  it('has up-role hidden layers and a head, and [B, classes] logits', () => {
    const m = createModel('mlp-classifier', { seed: 1, inputDim: 10, hiddenDims: [6, 5], numClasses: 3 });
    expect(m.linears().map((l) => [l.name, l.role, l.inDim, l.outDim])).toEqual([
      ['layers.0.up', 'up', 10, 6],
      ['layers.1.up', 'up', 6, 5],
      ['head', 'head', 5, 3],
    ]);
    const x = tf.zeros<tf.Rank.R2>([4, 10]);
    expect(tf.tidy(() => m.logits(x).shape)).toEqual([4, 3]);
    expect(() => m.logits(tf.zeros<tf.Rank.R2>([4, 9]))).toThrow(/\[batch, 10\]/);
    x.dispose();
    m.dispose();
  });

  it('learns a separable problem and predicts it', () => {
    const rng = new Rng(2);
    const n = 64;
    const features: number[][] = [];
    const labels: number[] = [];
    for (let i = 0; i < n; i++) {
      const c = i % 3;
      // Class c lights up feature c (plus noise).
      features.push(Array.from({ length: 8 }, (_, j) => (j === c ? 2 : 0) + 0.3 * rng.normal()));
      labels.push(c);
    }
    const inputs = tf.tensor2d(features);
    const targets = tf.tensor1d(labels, 'int32');
    const m = new MlpClassifier({ inputDim: 8, hiddenDims: [16], numClasses: 3 }, { seed: 3 });
    m.setBaseTrainable(true);
    const opt = new AdamW({ learningRate: 0.05 });
    const vars = [...m.parameters().values()];
    const first = trainStep(m, { inputs, targets }, vars, opt);
    const before = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 30; i++) last = trainStep(m, { inputs, targets }, vars, opt);
    expect(tf.memory().numTensors).toBe(before);
    expect(last).toBeLessThan(first / 4);
    const predicted = m.predict(inputs);
    expect(predicted.filter((p, i) => p === labels[i]).length).toBeGreaterThanOrEqual(n - 2);
    tf.dispose([inputs, targets]);
    opt.dispose();
    m.dispose();
  });
});
