import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { softmaxCrossEntropy } from './cross-entropy.ts';

const LOGITS = [
  [2, 1, 0.1],
  [0.5, 2.5, -1],
  [0, 0, 0],
  [-3, 4, 1],
];
const TARGETS = [0, 2, 1, 1];

function handLoss(): number {
  let total = 0;
  LOGITS.forEach((row, i) => {
    const lse = Math.log(row.reduce((s, z) => s + Math.exp(z), 0));
    total += lse - row[TARGETS[i]!]!;
  });
  return total / LOGITS.length;
}

describe.each(['cpu', 'wasm'] as const)('softmaxCrossEntropy on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('equals the hand-computed mean negative log-likelihood', () => {
    const loss = softmaxCrossEntropy(tf.tensor2d(LOGITS), tf.tensor1d(TARGETS, 'int32'));
    expect(loss.dataSync()[0]).toBeCloseTo(handLoss(), 5);
  });

  it('has gradient (softmax - onehot) / N', () => {
    const targets = tf.tensor1d(TARGETS, 'int32');
    const g = tf
      .grad((z) => softmaxCrossEntropy(z as tf.Tensor2D, targets))(tf.tensor2d(LOGITS))
      .arraySync() as number[][];
    LOGITS.forEach((row, i) => {
      const sum = row.reduce((s, z) => s + Math.exp(z), 0);
      row.forEach((z, j) => {
        const expected = (Math.exp(z) / sum - (j === TARGETS[i] ? 1 : 0)) / LOGITS.length;
        expect(g[i]![j]).toBeCloseTo(expected, 6);
      });
    });
  });

  it('rejects float targets and mismatched lengths', () => {
    expect(() => softmaxCrossEntropy(tf.tensor2d(LOGITS), tf.tensor1d([0, 1, 2, 0]))).toThrow(/int32/);
    expect(() => softmaxCrossEntropy(tf.tensor2d(LOGITS), tf.tensor1d([0, 1], 'int32'))).toThrow(/2 targets/);
  });
});
