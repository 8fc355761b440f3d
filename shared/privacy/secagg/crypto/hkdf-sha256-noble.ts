/** HKDF-SHA256 in pure JS (@noble/hashes). */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { HkdfSha256Implementation } from './primitives.ts';

export const nobleHkdfSha256: HkdfSha256Implementation = {
  name: 'noble',
  derive: (ikm, salt, info, length) => hkdf(sha256, ikm, salt, info, length),
};
