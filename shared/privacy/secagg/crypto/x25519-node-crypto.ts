/**
 * X25519 through OpenSSL (node:crypto), ~20x faster than pure JS. Raw 32-byte keys go in and out as JWK
 * (`kty: OKP`), which Node imports with EVP_PKEY_new_raw_*_key; the DER route costs ~400 µs per private key in
 * OpenSSL 3's decoder. Node's JWK import needs an `x` member but derives the public key from `d`, so a
 * placeholder is passed (the self-test in select.ts would catch a Node that started to check it).
 *
 * A client agrees with every peer under the same secret key, so the imported private KeyObject is cached per
 * secret (keyed by the array, re-checked against a private copy of its bytes in case the caller mutated it).
 */
import type { KeyObject } from 'node:crypto';
import type { NodeCryptoModule } from './node-crypto-module.ts';
import type { X25519Implementation } from './primitives.ts';

const PLACEHOLDER_X = 'A'.repeat(43); // base64url of 32 zero bytes

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

function toBytes(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

export function nodeCryptoX25519(crypto: NodeCryptoModule): X25519Implementation {
  const cache = new WeakMap<Uint8Array, { copy: Uint8Array; key: KeyObject }>();

  const privateKey = (secretKey: Uint8Array): KeyObject => {
    if (secretKey.length !== 32)
      throw new Error(`X25519 secret key must be 32 bytes, got ${secretKey.length}`);
    const hit = cache.get(secretKey);
    if (hit && crypto.timingSafeEqual(hit.copy, secretKey)) return hit.key;
    const key = crypto.createPrivateKey({
      key: { kty: 'OKP', crv: 'X25519', d: base64url(secretKey), x: PLACEHOLDER_X },
      format: 'jwk',
    });
    cache.set(secretKey, { copy: secretKey.slice(), key });
    return key;
  };

  return {
    name: 'node:crypto',
    publicKeyOf(secretKey) {
      const jwk = crypto.createPublicKey(privateKey(secretKey)).export({ format: 'jwk' });
      return toBytes(Buffer.from(jwk.x as string, 'base64url'));
    },
    sharedSecret(secretKey, peerPublicKey) {
      if (peerPublicKey.length !== 32) throw new Error(`X25519 public key must be 32 bytes`);
      const publicKey = crypto.createPublicKey({
        key: { kty: 'OKP', crv: 'X25519', x: base64url(peerPublicKey) },
        format: 'jwk',
      });
      // OpenSSL refuses an all-zero result ("failed during derivation"); check again so the contract does not
      // rest on one library's behaviour.
      const secret = toBytes(crypto.diffieHellman({ privateKey: privateKey(secretKey), publicKey }));
      if (secret.every((b) => b === 0))
        throw new Error('X25519 shared secret is all zeros (low-order point)');
      return secret;
    },
  };
}
