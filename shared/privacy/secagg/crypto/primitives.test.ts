import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { nobleChaCha20 } from './chacha20-noble.ts';
import { nodeCryptoChaCha20 } from './chacha20-node-crypto.ts';
import { nobleChaCha20Poly1305 } from './chacha20-poly1305-noble.ts';
import { nodeCryptoChaCha20Poly1305 } from './chacha20-poly1305-node-crypto.ts';
import { nobleHkdfSha256 } from './hkdf-sha256-noble.ts';
import { nodeCryptoHkdfSha256 } from './hkdf-sha256-node-crypto.ts';
import { AEAD_VECTOR, CHACHA20_VECTOR, HKDF_VECTOR, X25519_VECTOR, hexBytes } from './known-answers.ts';
import { loadNodeCrypto } from './node-crypto-module.ts';
import { aeadPasses, chaCha20Passes, hkdfPasses, secAggCrypto, x25519Passes } from './select.ts';
import { nobleX25519 } from './x25519-noble.ts';
import { nodeCryptoX25519 } from './x25519-node-crypto.ts';

const crypto = loadNodeCrypto();
if (!crypto) throw new Error('these tests run in Node, where node:crypto must be detected');
const x25519s = [nobleX25519, nodeCryptoX25519(crypto)];
const chacha20s = [nobleChaCha20, nodeCryptoChaCha20(crypto)];
const aeads = [nobleChaCha20Poly1305, nodeCryptoChaCha20Poly1305(crypto)];
const [nodeX, nodeStream, nodeAead] = [x25519s[1]!, chacha20s[1]!, aeads[1]!];

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

describe('secagg crypto selection', () => {
  it('uses node:crypto for every primitive in Node', () => {
    const { x25519, chacha20, aead, hkdf } = secAggCrypto;
    expect([x25519.name, chacha20.name, aead.name, hkdf.name]).toEqual(Array(4).fill('node:crypto'));
  });

  it('rejects an implementation that gets a known answer wrong', () => {
    const wrongByOne = {
      ...nobleChaCha20,
      keystream: (k: Uint8Array, n: Uint8Array, len: number) => {
        const out = nobleChaCha20.keystream(k, n, len);
        out[len - 1]! ^= 1;
        return out;
      },
    };
    expect(chaCha20Passes(wrongByOne)).toBe(false);
    expect(x25519Passes({ ...nobleX25519, sharedSecret: () => new Uint8Array(32) })).toBe(false);
    expect(aeadPasses({ ...nobleChaCha20Poly1305, open: () => undefined })).toBe(false);
    expect(
      hkdfPasses({ ...nobleHkdfSha256, derive: (...a) => nobleHkdfSha256.derive(a[0], a[0], a[2], a[3]) }),
    ).toBe(false);
  });
});

describe.each(x25519s.map((impl) => [impl.name, impl] as const))('X25519 (%s)', (_, impl) => {
  it('reproduces RFC 7748 §6.1', () => {
    const v = X25519_VECTOR;
    expect(impl.publicKeyOf(v.aliceSecret)).toEqual(v.alicePublic);
    expect(impl.publicKeyOf(v.bobSecret)).toEqual(v.bobPublic);
    expect(impl.sharedSecret(v.aliceSecret, v.bobPublic)).toEqual(v.shared);
    expect(impl.sharedSecret(v.bobSecret, v.alicePublic)).toEqual(v.shared);
  });

  it('rejects low-order peer keys (all-zero shared secret)', () => {
    const sk = X25519_VECTOR.aliceSecret;
    // u = 0, u = 1 and a point of order 8 (RFC 7748 §7 / Bernstein's list).
    for (const u of [
      '00'.repeat(32),
      '01' + '00'.repeat(31),
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
    ]) {
      expect(() => impl.sharedSecret(sk, hexBytes(u))).toThrow();
    }
  });
});

describe('X25519 across implementations', () => {
  it('gives the same public keys and shared secrets for any 32-byte keys', () => {
    fc.assert(
      fc.property(bytes(32), bytes(32), (secret, peer) => {
        expect(nodeX.publicKeyOf(secret)).toEqual(nobleX25519.publicKeyOf(secret));
        let fromNoble: Uint8Array | undefined;
        let fromNode: Uint8Array | undefined;
        try {
          fromNoble = nobleX25519.sharedSecret(secret, peer);
        } catch {
          fromNoble = undefined;
        }
        try {
          fromNode = nodeX.sharedSecret(secret, peer);
        } catch {
          fromNode = undefined;
        }
        expect(fromNode).toEqual(fromNoble);
      }),
      { numRuns: 200 },
    );
  });

  it('keys agree between implementations (a Node coordinator and a browser client)', () => {
    fc.assert(
      fc.property(bytes(32), bytes(32), (a, b) => {
        const viaNode = nodeX.sharedSecret(a, nobleX25519.publicKeyOf(b));
        const viaNoble = nobleX25519.sharedSecret(b, nodeX.publicKeyOf(a));
        expect(viaNode).toEqual(viaNoble);
      }),
      { numRuns: 50 },
    );
  });

  it('does not serve a cached key after the caller overwrote the secret bytes', () => {
    const secret = X25519_VECTOR.aliceSecret.slice();
    expect(nodeX.publicKeyOf(secret)).toEqual(X25519_VECTOR.alicePublic);
    secret.set(X25519_VECTOR.bobSecret);
    expect(nodeX.publicKeyOf(secret)).toEqual(X25519_VECTOR.bobPublic);
  });
});

describe.each(chacha20s.map((impl) => [impl.name, impl] as const))('ChaCha20 (%s)', (_, impl) => {
  it('reproduces RFC 8439 A.1 #1 (block 0) and §2.4.2 (block 1 onwards)', () => {
    const v = CHACHA20_VECTOR;
    expect(impl.keystream(v.key, v.nonce, 64)).toEqual(v.keystream);
    // §2.4.2 encrypts from block counter 1: ciphertext = plaintext XOR keystream[64..].
    const a = AEAD_VECTOR;
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    const stream = impl.keystream(key, hexBytes('000000000000004a00000000'), 64 + a.plaintext.length);
    const ct = a.plaintext.map((p, i) => p ^ stream[64 + i]!);
    expect(Buffer.from(ct).toString('hex').slice(0, 32)).toBe('6e2e359a2568f98041ba0728dd0d6981');
  });
});

describe('ChaCha20 across implementations', () => {
  it('gives the same keystream for any key, nonce and length (including partial blocks)', () => {
    fc.assert(
      fc.property(bytes(32), bytes(12), fc.integer({ min: 0, max: 5000 }), (key, nonce, length) => {
        expect(nodeStream.keystream(key, nonce, length)).toEqual(nobleChaCha20.keystream(key, nonce, length));
      }),
      { numRuns: 100 },
    );
  });

  it('returns a fresh, 4-byte-aligned buffer (the PRG views it as Uint32 words)', () => {
    for (const length of [4, 40, 4096, 8192]) {
      const out = nodeStream.keystream(new Uint8Array(32), new Uint8Array(12), length);
      expect([out.byteOffset, out.buffer.byteLength]).toEqual([0, length]);
    }
  });
});

describe.each(aeads.map((impl) => [impl.name, impl] as const))('ChaCha20-Poly1305 (%s)', (_, impl) => {
  it('reproduces RFC 8439 §2.8.2', () => {
    const v = AEAD_VECTOR;
    expect(impl.seal(v.key, v.nonce, v.aad, v.plaintext)).toEqual(v.sealed);
    expect(impl.open(v.key, v.nonce, v.aad, v.sealed)).toEqual(v.plaintext);
  });

  it('refuses altered ciphertext, tag or associated data, and short input', () => {
    const v = AEAD_VECTOR;
    for (const at of [0, 50, v.sealed.length - 1]) {
      const bad = v.sealed.slice();
      bad[at]! ^= 0x01;
      expect(impl.open(v.key, v.nonce, v.aad, bad)).toBeUndefined();
    }
    expect(impl.open(v.key, v.nonce, new Uint8Array(12), v.sealed)).toBeUndefined();
    expect(impl.open(v.key, v.nonce, v.aad, v.sealed.subarray(0, 15))).toBeUndefined();
  });
});

describe('ChaCha20-Poly1305 across implementations', () => {
  it('seals identically and each opens what the other sealed', () => {
    fc.assert(
      fc.property(
        bytes(32),
        bytes(12),
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 300 }),
        (key, nonce, aad, plain) => {
          const a = nobleChaCha20Poly1305.seal(key, nonce, aad, plain);
          expect(nodeAead.seal(key, nonce, aad, plain)).toEqual(a);
          expect(nodeAead.open(key, nonce, aad, a)).toEqual(plain);
          expect(nobleChaCha20Poly1305.open(key, nonce, aad, nodeAead.seal(key, nonce, aad, plain))).toEqual(
            plain,
          );
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe.each([nobleHkdfSha256, nodeCryptoHkdfSha256(crypto)].map((impl) => [impl.name, impl] as const))(
  'HKDF-SHA256 (%s)',
  (_, impl) => {
    it('reproduces RFC 5869 A.1', () => {
      const v = HKDF_VECTOR;
      expect(impl.derive(v.ikm, v.salt, v.info, v.okm.length)).toEqual(v.okm);
    });
  },
);

describe('HKDF-SHA256 across implementations', () => {
  it('derives the same keys for any input keying material, salt and info', () => {
    const nodeHkdf = nodeCryptoHkdfSha256(crypto);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.integer({ min: 1, max: 96 }),
        (ikm, salt, info, length) => {
          expect(nodeHkdf.derive(ikm, salt, info, length)).toEqual(
            nobleHkdfSha256.derive(ikm, salt, info, length),
          );
        },
      ),
      { numRuns: 100 },
    );
  });
});
