import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { clipByGlobalNorm, globalNorm } from './grad-clip.ts';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('global-norm clipping', () => {
  it('computes the norm over all tensors and scales only when it exceeds the bound', () => {
    const grads = [tf.tensor1d([3, 0]), tf.tensor2d([[0, 4]])];
    expect(globalNorm(grads).dataSync()[0]).toBeCloseTo(5, 6);
    const clipped = clipByGlobalNorm(grads, 1);
    expect(Array.from(clipped[0]!.dataSync())).toEqual([expect.closeTo(0.6, 5), 0]);
    expect(Array.from(clipped[1]!.dataSync())).toEqual([0, expect.closeTo(0.8, 5)]);
    const untouched = clipByGlobalNorm(grads, 10);
    expect(Array.from(untouched[0]!.dataSync())).toEqual([expect.closeTo(3, 4), 0]);
    expect(() => clipByGlobalNorm(grads, 0)).toThrow(/> 0/);
    tf.dispose([...grads, ...clipped, ...untouched]);
  });
});
