/**
 * The primitives secure aggregation needs, as interfaces with one implementation per platform
 * capability: pure JS (@noble, runs everywhere) and native (node:crypto / OpenSSL, Node only). Every
 * implementation of a primitive must produce byte-identical outputs (RFC 7748 / RFC 8439 / RFC 5869), which
 * primitives.test.ts checks with the RFC vectors and fast-check cross-implementation equality; masks computed
 * by a browser client and a Node coordinator therefore cancel.
 */

export interface X25519Implementation {
  readonly name: string;
  /** The public key of a 32-byte secret scalar (clamped as RFC 7748 §5 says). */
  publicKeyOf(secretKey: Uint8Array): Uint8Array;
  /**
   * The raw shared secret. Throws on a peer key whose result is all zeros (a low-order point): callers turn
   * that into SECAGG_MALFORMED_KEY.
   */
  sharedSecret(secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array;
}

export interface ChaCha20Implementation {
  readonly name: string;
  /** `length` bytes of the RFC 8439 ChaCha20 keystream for (key, nonce), block counter starting at 0. */
  keystream(key: Uint8Array, nonce: Uint8Array, length: number): Uint8Array;
}

export interface ChaCha20Poly1305Implementation {
  readonly name: string;
  /** RFC 8439 AEAD: ciphertext followed by the 16-byte tag. */
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** The plaintext, or undefined when the tag does not verify (wrong key, nonce, aad or altered bytes). */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
}

export interface HkdfSha256Implementation {
  readonly name: string;
  /** RFC 5869 HKDF-SHA256 (extract then expand) of `length` bytes. */
  derive(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
}

export const TAG_BYTES = 16;
