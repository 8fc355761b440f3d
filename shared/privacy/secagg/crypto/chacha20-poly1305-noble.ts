/** ChaCha20-Poly1305 (RFC 8439 AEAD) in pure JS (@noble/ciphers). */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import type { ChaCha20Poly1305Implementation } from './primitives.ts';

export const nobleChaCha20Poly1305: ChaCha20Poly1305Implementation = {
  name: 'noble',
  seal: (key, nonce, aad, plaintext) => chacha20poly1305(key, nonce, aad).encrypt(plaintext),
  open(key, nonce, aad, sealed) {
    try {
      return chacha20poly1305(key, nonce, aad).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
};
