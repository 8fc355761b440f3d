import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { closestKey, editDistance, unknownKeyMessage } from './did-you-mean.ts';

describe('editDistance', () => {
  it('counts insertions, deletions, substitutions and adjacent swaps once each', () => {
    expect(editDistance('kep', 'keep')).toBe(1);
    expect(editDistance('seeed', 'seed')).toBe(1);
    expect(editDistance('fracton', 'fraction')).toBe(1);
    expect(editDistance('qourum', 'quorum')).toBe(1);
    expect(editDistance('abc', 'xyz')).toBe(3);
  });

  it('is a symmetric distance that is zero only for equal strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), (a, b) => {
        expect(editDistance(a, b)).toBe(editDistance(b, a));
        expect(editDistance(a, b) === 0).toBe(a === b);
        expect(editDistance(a, b)).toBeLessThanOrEqual(Math.max(a.length, b.length));
      }),
    );
  });
});

describe('closestKey', () => {
  it('prefers a case-only difference and refuses far-away keys', () => {
    expect(closestKey('deadlinems', ['dropAfterMs', 'deadlineMs'])).toBe('deadlineMs');
    expect(closestKey('token', ['tokens', 'tokenFile', 'adminToken'])).toBe('tokens');
    expect(closestKey('sampling', ['rounds', 'localSteps'])).toBeUndefined();
    expect(closestKey('x', [])).toBeUndefined();
  });

  it('names the allowed keys in the message', () => {
    expect(unknownKeyMessage('kep', ['journal', 'keep'])).toBe(
      'unknown key — did you mean `keep`? (allowed here: journal, keep)',
    );
  });
});
