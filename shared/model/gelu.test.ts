import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { gelu } from './gelu.ts';

/** GPT-2's gelu_new in float64. */
function reference(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('gelu (tanh approximation)', () => {
  const xs = [-4, -2.5, -1, -0.3, 0, 0.2, 1, 1.7, 3, 5];

  it('matches the float64 formula', () => {
    const y = gelu(tf.tensor1d(xs)).dataSync();
    xs.forEach((x, i) => expect(y[i]).toBeCloseTo(reference(x), 5));
  });

  it('has the derivative of that formula (central differences in float64)', () => {
    const g = tf
      .grad((x) => tf.sum(gelu(x)))(tf.tensor1d(xs))
      .dataSync();
    const h = 1e-5;
    xs.forEach((x, i) => expect(g[i]).toBeCloseTo((reference(x + h) - reference(x - h)) / (2 * h), 4));
  });
});
