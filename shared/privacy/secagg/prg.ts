/**
 * Seed expansion for masks: the ChaCha20 keystream (RFC 8439; OpenSSL where the platform has it, else
 * @noble/ciphers, byte-identical, see crypto/select.ts) under the 32-byte seed as key
 * and an all-zero nonce. Every seed is used for exactly one stream (self-mask seeds are fresh random values;
 * pairwise seeds are HKDF outputs bound to the session and the two client ids), so the fixed nonce never
 * repeats a (key, nonce) pair.
 */
import { secAggCrypto } from './crypto/select.ts';

const ZERO_NONCE = new Uint8Array(12);

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  // Masks are read as little-endian words on both sides; a big-endian host would disagree with everyone.
  throw new Error('secure aggregation needs a little-endian platform');
}

/** `count` pseudo-random 32-bit words from `seed` (32 bytes). */
export function prgWords(seed: Uint8Array, count: number): Uint32Array {
  if (seed.length !== 32) throw new Error(`PRG seed must be 32 bytes, got ${seed.length}`);
  const stream = secAggCrypto.chacha20.keystream(seed, ZERO_NONCE, count * 4);
  return new Uint32Array(stream.buffer, stream.byteOffset, count);
}
