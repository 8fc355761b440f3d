import { describe, expect, it } from 'vitest';
import { unigramBitsPerToken } from './stream-evaluation.ts';

describe('unigramBitsPerToken', () => {
  it('is 8 bits for uniformly distributed bytes and near 0 for a constant stream', () => {
    const uniform = Int32Array.from({ length: 256 * 100 }, (_, i) => i % 256);
    expect(unigramBitsPerToken(uniform, uniform)).toBeCloseTo(8, 10);
    const constant = new Int32Array(100_000).fill(65);
    expect(unigramBitsPerToken(constant, constant)).toBeLessThan(0.01);
  });

  it('charges unseen tokens finite bits (add-one smoothing) and rejects out-of-vocabulary ids', () => {
    const train = new Int32Array(1000).fill(1);
    const bits = unigramBitsPerToken(train, Int32Array.of(2));
    expect(bits).toBeCloseTo(Math.log2(1000 + 256), 10);
    expect(() => unigramBitsPerToken(Int32Array.of(300), train)).toThrow(/outside the vocabulary/);
    expect(() => unigramBitsPerToken(train, new Int32Array(0))).toThrow(/nothing/);
  });
});
