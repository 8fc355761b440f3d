/** X25519 in pure JS (@noble/curves): the implementation every platform has. */
import { x25519 } from '@noble/curves/ed25519.js';
import type { X25519Implementation } from './primitives.ts';

export const nobleX25519: X25519Implementation = {
  name: 'noble',
  publicKeyOf: (secretKey) => x25519.getPublicKey(secretKey),
  // Throws on an all-zero result (low-order peer key), as the interface requires.
  sharedSecret: (secretKey, peerPublicKey) => x25519.getSharedSecret(secretKey, peerPublicKey),
};
