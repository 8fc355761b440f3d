/**
 * X25519 key agreement and the keys derived from it (Bonawitz et al. 2017, §4: KA.agree followed by a KDF).
 * Every derived key is bound by HKDF-SHA256 to the protocol version, the session (round) and the client ids
 * it is for, so a key from one round or one pair can never be replayed in another.
 * X25519 runs natively (OpenSSL) where the platform has it, else in pure JS: see crypto/select.ts.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { secAggError } from './errors.ts';
import { secAggCrypto } from './crypto/select.ts';

export const PUBLIC_KEY_BYTES = 32;
export const SEED_BYTES = 32;

export interface KeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

export type RandomBytes = (length: number) => Uint8Array;

export const cryptoRandomBytes: RandomBytes = (length) =>
  globalThis.crypto.getRandomValues(new Uint8Array(length));

export function generateKeyPair(randomBytes: RandomBytes): KeyPair {
  const secretKey = randomBytes(32);
  if (secretKey.length !== 32) throw new Error(`randomBytes(32) returned ${secretKey.length} bytes`);
  return { secretKey, publicKey: secAggCrypto.x25519.publicKeyOf(secretKey) };
}

export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  return secAggCrypto.x25519.publicKeyOf(secretKey);
}

/**
 * Raw X25519 agreement; a wrong-length or low-order peer key (whose shared secret would be all zeros, known to
 * everyone) is rejected with SECAGG_MALFORMED_KEY naming the peer.
 */
export function agree(secretKey: Uint8Array, peerPublicKey: Uint8Array, peerId: string): Uint8Array {
  if (peerPublicKey.length !== PUBLIC_KEY_BYTES) {
    throw secAggError(
      'SECAGG_MALFORMED_KEY',
      `public key of '${peerId}' has ${peerPublicKey.length} bytes, expected 32`,
    );
  }
  try {
    return secAggCrypto.x25519.sharedSecret(secretKey, peerPublicKey);
  } catch (err) {
    throw secAggError(
      'SECAGG_MALFORMED_KEY',
      `public key of '${peerId}' is invalid (${(err as Error).message})`,
    );
  }
}

/** A probe that a public key is usable (right length, not a low-order point), for the server's intake. */
export function checkPublicKey(publicKey: Uint8Array, ownerId: string): void {
  agree(PROBE_SECRET, publicKey, ownerId);
}
const PROBE_SECRET = sha256(new TextEncoder().encode('fedpeft/secagg/probe'));

const SALT = new TextEncoder().encode('fedpeft/secagg/v1');

function derive(sharedSecret: Uint8Array, label: (string | number)[]): Uint8Array {
  return secAggCrypto.hkdf.derive(
    sharedSecret,
    SALT,
    new TextEncoder().encode(JSON.stringify(label)),
    SEED_BYTES,
  );
}

/** Whether `a` comes before `b` in the protocol's client order (which decides the sign of a pairwise mask). */
export function precedes(a: string, b: string): boolean {
  return a < b;
}

/**
 * The seed s_{u,v} of the pairwise mask between u and v, identical when computed by u (with s_u^SK, s_v^PK)
 * and by v (with s_v^SK, s_u^PK) — and by the server from a reconstructed s_u^SK of a dropped client.
 */
export function pairwiseMaskSeed(
  sessionId: string,
  secretKey: Uint8Array,
  peerPublicKey: Uint8Array,
  selfId: string,
  peerId: string,
): Uint8Array {
  const [lo, hi] = precedes(selfId, peerId) ? [selfId, peerId] : [peerId, selfId];
  return derive(agree(secretKey, peerPublicKey, peerId), ['mask', sessionId, lo, hi]);
}

/**
 * The key that encrypts the shares `sender` sends to `recipient`. Directional (sender -> recipient differs from
 * recipient -> sender) so each key encrypts exactly one message and the AEAD can use a fixed nonce.
 */
export function shareKey(
  sessionId: string,
  sharedSecret: Uint8Array,
  sender: string,
  recipient: string,
): Uint8Array {
  return derive(sharedSecret, ['share', sessionId, sender, recipient]);
}

/** Commitment to a self-mask seed, so the server can verify the seed it reconstructs (see server.ts). */
export function seedCommitment(sessionId: string, clientId: string, seed: Uint8Array): Uint8Array {
  const label = new TextEncoder().encode(JSON.stringify(['self-mask', sessionId, clientId]));
  const buf = new Uint8Array(label.length + seed.length);
  buf.set(label);
  buf.set(seed, label.length);
  return sha256(buf);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}
