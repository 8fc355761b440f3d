/** ChaCha20-Poly1305 (RFC 8439 AEAD) through OpenSSL (node:crypto); same bytes as the @noble one. */
import type { NodeCryptoModule } from './node-crypto-module.ts';
import { TAG_BYTES, type ChaCha20Poly1305Implementation } from './primitives.ts';

function copyOut(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function nodeCryptoChaCha20Poly1305(crypto: NodeCryptoModule): ChaCha20Poly1305Implementation {
  return {
    name: 'node:crypto',
    seal(key, nonce, aad, plaintext) {
      const cipher = crypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(aad, { plaintextLength: plaintext.length });
      return copyOut([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    },
    open(key, nonce, aad, sealed) {
      if (sealed.length < TAG_BYTES) return undefined;
      const body = sealed.subarray(0, sealed.length - TAG_BYTES);
      try {
        const decipher = crypto.createDecipheriv('chacha20-poly1305', key, nonce, {
          authTagLength: TAG_BYTES,
        });
        decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
        decipher.setAAD(aad, { plaintextLength: body.length });
        return copyOut([decipher.update(body), decipher.final()]);
      } catch {
        return undefined; // final() throws when the tag does not verify
      }
    },
  };
}
