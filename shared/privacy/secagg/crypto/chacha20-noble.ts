/** The ChaCha20 keystream in pure JS (@noble/ciphers). */
import { chacha20 } from '@noble/ciphers/chacha.js';
import type { ChaCha20Implementation } from './primitives.ts';

export const nobleChaCha20: ChaCha20Implementation = {
  name: 'noble',
  keystream: (key, nonce, length) => chacha20(key, nonce, new Uint8Array(length)),
};
