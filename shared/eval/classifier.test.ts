import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { evaluateClassifier } from './classifier.ts';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('evaluateClassifier', () => {
  it('collects predictions across batches and scores them', () => {
    // "Predicts" the index of the largest feature.
    const model = {
      predict: (x: tf.Tensor2D) => tf.tidy(() => Array.from(tf.argMax(x, 1).dataSync())),
    };
    const batches = [
      {
        inputs: tf.tensor2d([
          [1, 0],
          [0, 1],
        ]),
        targets: tf.tensor1d([0, 1], 'int32'),
      },
      { inputs: tf.tensor2d([[1, 0]]), targets: tf.tensor1d([1], 'int32') },
    ];
    const r = evaluateClassifier(model, batches, 2);
    expect(r.examples).toBe(3);
    expect(r.accuracy).toBeCloseTo(2 / 3, 12);
    expect(r.perClass[1]!.recall).toBe(0.5);
    tf.dispose(batches.flatMap((b) => [b.inputs, b.targets]));
  });
});
