import { describe, expect, it } from 'vitest';
import { ENVELOPE_BYTES, SHARE_BYTES, openShares, sealShares } from './share-envelope.ts';
import { agree, generateKeyPair, pairwiseMaskSeed, shareKey, cryptoRandomBytes } from './key-agreement.ts';

function pair() {
  return {
    maskKeyShare: cryptoRandomBytes(SHARE_BYTES),
    selfMaskShare: cryptoRandomBytes(SHARE_BYTES),
  };
}

describe('share envelopes and key agreement', () => {
  const alice = generateKeyPair(cryptoRandomBytes);
  const bob = generateKeyPair(cryptoRandomBytes);
  const kAB = shareKey('s1', agree(alice.secretKey, bob.publicKey, 'bob'), 'alice', 'bob');

  it('both sides derive the same share key and pairwise mask seed; directions and sessions differ', () => {
    expect(shareKey('s1', agree(bob.secretKey, alice.publicKey, 'alice'), 'alice', 'bob')).toEqual(kAB);
    expect(shareKey('s1', agree(bob.secretKey, alice.publicKey, 'alice'), 'bob', 'alice')).not.toEqual(kAB);
    expect(shareKey('s2', agree(alice.secretKey, bob.publicKey, 'bob'), 'alice', 'bob')).not.toEqual(kAB);
    const sA = pairwiseMaskSeed('s1', alice.secretKey, bob.publicKey, 'alice', 'bob');
    expect(pairwiseMaskSeed('s1', bob.secretKey, alice.publicKey, 'bob', 'alice')).toEqual(sA);
    expect(pairwiseMaskSeed('s2', bob.secretKey, alice.publicKey, 'bob', 'alice')).not.toEqual(sA);
  });

  it('round-trips a share pair', () => {
    const p = pair();
    const env = sealShares(kAB, 's1', 'alice', 'bob', p);
    expect(env.length).toBe(ENVELOPE_BYTES);
    expect(openShares(kAB, 's1', 'alice', 'bob', env)).toEqual(p);
  });

  it('rejects a flipped bit, a redirected or replayed envelope, and a wrong length with clear codes', () => {
    const env = sealShares(kAB, 's1', 'alice', 'bob', pair());
    const flipped = env.slice();
    flipped[3] = (flipped[3] as number) ^ 1;
    expect(() => openShares(kAB, 's1', 'alice', 'bob', flipped)).toThrow(
      expect.objectContaining({ code: 'SECAGG_BAD_CIPHERTEXT' }),
    );
    expect(() => openShares(kAB, 's1', 'alice', 'carol', env)).toThrow(
      expect.objectContaining({ code: 'SECAGG_BAD_CIPHERTEXT' }),
    );
    expect(() => openShares(kAB, 's2', 'alice', 'bob', env)).toThrow(
      expect.objectContaining({ code: 'SECAGG_BAD_CIPHERTEXT' }),
    );
    expect(() => openShares(kAB, 's1', 'alice', 'bob', env.subarray(1))).toThrow(
      expect.objectContaining({ code: 'SECAGG_MALFORMED_SHARES' }),
    );
  });

  it('rejects malformed and low-order public keys', () => {
    expect(() => agree(alice.secretKey, new Uint8Array(31), 'eve')).toThrow(
      expect.objectContaining({ code: 'SECAGG_MALFORMED_KEY' }),
    );
    expect(() => agree(alice.secretKey, new Uint8Array(32), 'eve')).toThrow(
      expect.objectContaining({ code: 'SECAGG_MALFORMED_KEY' }),
    );
  });
});
