/**
 * Picks, once per process, the fastest implementation of each secagg primitive the platform offers:
 * node:crypto (OpenSSL) in Node, the pure-JS @noble code elsewhere (browsers, workers without `process`) or
 * when `FEDPEFT_SECAGG_CRYPTO=js`. A native implementation is used only after it reproduces the published
 * vectors (known-answers.ts), so a platform whose OpenSSL lacks or changes an algorithm silently keeps the
 * fallback instead of computing masks that would not cancel against other clients'.
 *
 * Browsers keep @noble even where WebCrypto has X25519: WebCrypto is asynchronous and `agree` is called from
 * the synchronous protocol steps (SecAggClient.maskedInput, the server's unmasking), and WebCrypto has no
 * ChaCha20 at all.
 */
import { nobleChaCha20 } from './chacha20-noble.ts';
import { nodeCryptoChaCha20 } from './chacha20-node-crypto.ts';
import { nobleChaCha20Poly1305 } from './chacha20-poly1305-noble.ts';
import { nodeCryptoChaCha20Poly1305 } from './chacha20-poly1305-node-crypto.ts';
import { nobleHkdfSha256 } from './hkdf-sha256-noble.ts';
import { nodeCryptoHkdfSha256 } from './hkdf-sha256-node-crypto.ts';
import { AEAD_VECTOR, CHACHA20_VECTOR, HKDF_VECTOR, X25519_VECTOR } from './known-answers.ts';
import { loadNodeCrypto } from './node-crypto-module.ts';
import type {
  ChaCha20Implementation,
  ChaCha20Poly1305Implementation,
  HkdfSha256Implementation,
  X25519Implementation,
} from './primitives.ts';
import { nobleX25519 } from './x25519-noble.ts';
import { nodeCryptoX25519 } from './x25519-node-crypto.ts';

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

function passes(selfTest: () => boolean): boolean {
  try {
    return selfTest();
  } catch {
    return false;
  }
}

export function x25519Passes(impl: X25519Implementation): boolean {
  const v = X25519_VECTOR;
  return passes(
    () =>
      sameBytes(impl.publicKeyOf(v.aliceSecret), v.alicePublic) &&
      sameBytes(impl.sharedSecret(v.aliceSecret, v.bobPublic), v.shared) &&
      sameBytes(impl.sharedSecret(v.bobSecret, v.alicePublic), v.shared),
  );
}

export function chaCha20Passes(impl: ChaCha20Implementation): boolean {
  const v = CHACHA20_VECTOR;
  return passes(() => sameBytes(impl.keystream(v.key, v.nonce, v.keystream.length), v.keystream));
}

export function aeadPasses(impl: ChaCha20Poly1305Implementation): boolean {
  const v = AEAD_VECTOR;
  return passes(
    () =>
      sameBytes(impl.seal(v.key, v.nonce, v.aad, v.plaintext), v.sealed) &&
      sameBytes(impl.open(v.key, v.nonce, v.aad, v.sealed), v.plaintext),
  );
}

export function hkdfPasses(impl: HkdfSha256Implementation): boolean {
  const v = HKDF_VECTOR;
  return passes(() => sameBytes(impl.derive(v.ikm, v.salt, v.info, v.okm.length), v.okm));
}

export interface SecAggCrypto {
  x25519: X25519Implementation;
  chacha20: ChaCha20Implementation;
  aead: ChaCha20Poly1305Implementation;
  hkdf: HkdfSha256Implementation;
}

function pick<T>(native: T | undefined, fallback: T, ok: (impl: T) => boolean): T {
  return native !== undefined && ok(native) ? native : fallback;
}

function selectCrypto(): SecAggCrypto {
  const crypto = loadNodeCrypto();
  return {
    x25519: pick(crypto && nodeCryptoX25519(crypto), nobleX25519, x25519Passes),
    chacha20: pick(crypto && nodeCryptoChaCha20(crypto), nobleChaCha20, chaCha20Passes),
    aead: pick(crypto && nodeCryptoChaCha20Poly1305(crypto), nobleChaCha20Poly1305, aeadPasses),
    hkdf: pick(crypto && nodeCryptoHkdfSha256(crypto), nobleHkdfSha256, hkdfPasses),
  };
}

/** The implementations in use in this process (logged by the bench; names are 'node:crypto' or 'noble'). */
export const secAggCrypto: SecAggCrypto = selectCrypto();
