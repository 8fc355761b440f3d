/** HKDF-SHA256 through OpenSSL (node:crypto `hkdfSync`); every pairwise and share key goes through it. */
import type { NodeCryptoModule } from './node-crypto-module.ts';
import type { HkdfSha256Implementation } from './primitives.ts';

export function nodeCryptoHkdfSha256(crypto: NodeCryptoModule): HkdfSha256Implementation {
  return {
    name: 'node:crypto',
    derive: (ikm, salt, info, length) => new Uint8Array(crypto.hkdfSync('sha256', ikm, salt, info, length)),
  };
}
