import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { Rng } from '../tensor/rng.ts';
import { layerNorm } from './layer-norm.ts';

/** The textbook composition of stock ops, differentiated by tfjs itself. */
function stockLayerNorm(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, 1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), g), b);
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('layerNorm', () => {
  it('matches the stock composition in value and in all three gradients', () => {
    const rng = new Rng(1);
    const x = rng.normalTensor([5, 7], 2, 0.5) as tf.Tensor2D;
    const g = rng.normalTensor([7]) as tf.Tensor1D;
    const b = rng.normalTensor([7]) as tf.Tensor1D;
    // A non-uniform upstream gradient, so every term of the backward formula matters.
    const w = rng.normalTensor([5, 7]);
    const before = tf.memory().numTensors;
    const ours = tf.grads((x_, g_, b_) =>
      tf.sum(tf.mul(layerNorm(x_ as tf.Tensor2D, g_ as tf.Tensor1D, b_ as tf.Tensor1D, 1e-5), w)),
    );
    const stock = tf.grads((x_, g_, b_) =>
      tf.sum(tf.mul(stockLayerNorm(x_ as tf.Tensor2D, g_ as tf.Tensor1D, b_ as tf.Tensor1D, 1e-5), w)),
    );
    const a = ours([x, g, b]);
    const e = stock([x, g, b]);
    for (let i = 0; i < 3; i++) {
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a[i]!, e[i]!))).dataSync()[0]!);
      expect(diff).toBeLessThan(1e-4);
    }
    const value = tf.tidy(
      () => tf.max(tf.abs(tf.sub(layerNorm(x, g, b, 1e-5), stockLayerNorm(x, g, b, 1e-5)))).dataSync()[0]!,
    );
    expect(value).toBeLessThan(1e-5);
    tf.dispose([...a, ...e]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, g, b, w]);
  });

  it('normalises each row to zero mean and unit variance before the affine part', () => {
    const x = tf.tensor2d([
      [1, 2, 3, 4],
      [10, 10, 10, 14],
    ]);
    const y = layerNorm(x, tf.ones<tf.Rank.R1>([4]), tf.zeros<tf.Rank.R1>([4]), 0).arraySync();
    // Row 1: mean 2.5, std sqrt(1.25).
    expect(y[0]![0]).toBeCloseTo(-1.5 / Math.sqrt(1.25), 5);
    // Row 2: mean 11, var 3.
    expect(y[1]![3]).toBeCloseTo(3 / Math.sqrt(3), 5);
  });
});
