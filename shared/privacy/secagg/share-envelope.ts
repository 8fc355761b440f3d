/**
 * Authenticated encryption of the Shamir shares one client sends another through the server (Bonawitz et al.
 * 2017, round ShareKeys): ChaCha20-Poly1305 under the directional share key, with the session and both ids as
 * associated data, so the server can neither read, alter nor redirect a share. OpenSSL where the platform has
 * it, else @noble/ciphers (crypto/select.ts).
 */
import { TAG_BYTES } from './crypto/primitives.ts';
import { secAggCrypto } from './crypto/select.ts';
import { secAggError } from './errors.ts';

/** Shamir shares of 32-byte secrets are 33 bytes (the secret bytes plus the x coordinate). */
export const SHARE_BYTES = 33;
const PLAINTEXT_BYTES = 2 * SHARE_BYTES;
export const ENVELOPE_BYTES = PLAINTEXT_BYTES + TAG_BYTES;
// Safe only because every share key encrypts exactly one message (see key-agreement.ts).
const NONCE = new Uint8Array(12);

export interface SharePair {
  /** Share of the sender's mask secret key s^SK (revealed only if the sender drops before its masked input). */
  maskKeyShare: Uint8Array;
  /** Share of the sender's self-mask seed b (revealed only if the sender's masked input was received). */
  selfMaskShare: Uint8Array;
}

function associatedData(sessionId: string, sender: string, recipient: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(['fedpeft/secagg/v1/shares', sessionId, sender, recipient]));
}

export function sealShares(
  key: Uint8Array,
  sessionId: string,
  sender: string,
  recipient: string,
  pair: SharePair,
): Uint8Array {
  if (pair.maskKeyShare.length !== SHARE_BYTES || pair.selfMaskShare.length !== SHARE_BYTES) {
    throw new Error(`shares must be ${SHARE_BYTES} bytes`);
  }
  const plain = new Uint8Array(PLAINTEXT_BYTES);
  plain.set(pair.maskKeyShare, 0);
  plain.set(pair.selfMaskShare, SHARE_BYTES);
  return secAggCrypto.aead.seal(key, NONCE, associatedData(sessionId, sender, recipient), plain);
}

export function openShares(
  key: Uint8Array,
  sessionId: string,
  sender: string,
  recipient: string,
  envelope: Uint8Array,
): SharePair {
  if (envelope.length !== ENVELOPE_BYTES) {
    throw secAggError(
      'SECAGG_MALFORMED_SHARES',
      `share ciphertext from '${sender}' has ${envelope.length} bytes, expected ${ENVELOPE_BYTES}`,
    );
  }
  const plain = secAggCrypto.aead.open(key, NONCE, associatedData(sessionId, sender, recipient), envelope);
  if (plain === undefined) {
    throw secAggError(
      'SECAGG_BAD_CIPHERTEXT',
      `share ciphertext from '${sender}' to '${recipient}' failed authentication`,
    );
  }
  return { maskKeyShare: plain.slice(0, SHARE_BYTES), selfMaskShare: plain.slice(SHARE_BYTES) };
}
