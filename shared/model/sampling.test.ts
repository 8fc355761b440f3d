import { describe, expect, it } from 'vitest';
import { Rng } from '../tensor/rng.ts';
import { sampleToken } from './sampling.ts';

describe('sampleToken', () => {
  const logits = [0, Math.log(3), 5, -1];

  it('is greedy at temperature 0 and needs an rng otherwise', () => {
    expect(sampleToken(logits, { temperature: 0 })).toBe(2);
    expect(() => sampleToken(logits, { temperature: 1 })).toThrow(/rng/);
  });

  it('samples in proportion to softmax(logits / temperature)', () => {
    const rng = new Rng(3);
    const counts = [0, 0, 0, 0];
    const flat = [0, Math.log(3), 0, Math.log(4)]; // probabilities 1/9, 3/9, 1/9, 4/9
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[sampleToken(flat, { rng })]! += 1;
    expect(counts[0]! / n).toBeCloseTo(1 / 9, 1);
    expect(counts[1]! / n).toBeCloseTo(3 / 9, 1);
    expect(counts[3]! / n).toBeCloseTo(4 / 9, 1);
  });

  it('never picks outside the top k', () => {
    const rng = new Rng(4);
    for (let i = 0; i < 500; i++)
      expect([1, 2]).toContain(sampleToken(logits, { rng, topK: 2, temperature: 5 }));
  });
});
