/**
 * Capability detection for OpenSSL through node:crypto, without a static `import 'node:crypto'` so browser
 * bundles (which must not contain Node built-ins, see web/build.ts) can include this file: Node >= 20.16 has
 * `process.getBuiltinModule`, a browser has no `process` and gets undefined.
 *
 * `FEDPEFT_SECAGG_CRYPTO=js` forces the pure-JS implementations (to compare speed, or to rule out a native
 * library when debugging).
 */
import type * as NodeCrypto from 'node:crypto';

export type NodeCryptoModule = typeof NodeCrypto;

interface ProcessLike {
  env?: Record<string, string | undefined>;
  getBuiltinModule?: (id: string) => unknown;
}

export function loadNodeCrypto(): NodeCryptoModule | undefined {
  const proc = (globalThis as { process?: ProcessLike }).process;
  if (!proc || typeof proc.getBuiltinModule !== 'function') return undefined;
  if (proc.env?.['FEDPEFT_SECAGG_CRYPTO'] === 'js') return undefined;
  try {
    return proc.getBuiltinModule('node:crypto') as NodeCryptoModule | undefined;
  } catch {
    return undefined;
  }
}
