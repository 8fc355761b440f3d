/**
 * The ChaCha20 keystream through OpenSSL (node:crypto), ~4x faster than pure JS. OpenSSL's `chacha20` takes a
 * 16-byte IV: the 32-bit little-endian block counter followed by the RFC 8439 96-bit nonce; counter 0 gives
 * the same stream as @noble's default.
 */
import type { NodeCryptoModule } from './node-crypto-module.ts';
import type { ChaCha20Implementation } from './primitives.ts';

export function nodeCryptoChaCha20(crypto: NodeCryptoModule): ChaCha20Implementation {
  return {
    name: 'node:crypto',
    keystream(key, nonce, length) {
      if (nonce.length !== 12) throw new Error(`ChaCha20 nonce must be 12 bytes, got ${nonce.length}`);
      const iv = new Uint8Array(16);
      iv.set(nonce, 4);
      const cipher = crypto.createCipheriv('chacha20', key, iv);
      // Keystream = encryption of zeros. A fresh ArrayBuffer (not Node's pooled slab) so callers can view it as
      // aligned Uint32 words.
      const out = new Uint8Array(length);
      const head = cipher.update(out);
      out.set(head);
      const tail = cipher.final();
      if (head.length + tail.length !== length) throw new Error('ChaCha20 returned a short keystream');
      return out;
    },
  };
}
