/**
 * Join tokens: per-client credentials, revocable. Tokens come from the config, from a token file (one per
 * line, `name:token` or bare `token`; `#` comments) that is reloaded when it changes, or from admin calls.
 * Only SHA-256 digests are kept, compared in constant time, so a memory dump or log never shows a token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { FedpeftError } from '../shared/errors.ts';

export function digest(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

interface TokenEntry {
  name: string;
  source: 'config' | 'file' | 'admin';
}

export class JoinTokens {
  private readonly byDigest = new Map<string, TokenEntry>();
  private readonly revoked = new Set<string>();
  private file: string | undefined;
  private readonly listeners: Array<(tokenDigest: string) => void> = [];

  constructor(tokens: readonly string[] = []) {
    tokens.forEach((t, i) => this.byDigest.set(digest(t), { name: `token-${i + 1}`, source: 'config' }));
  }

  get size(): number {
    return this.byDigest.size;
  }

  add(token: string, name = `admin-${this.byDigest.size + 1}`): void {
    if (token.length < 16)
      throw new FedpeftError('INVALID_CONFIG', 'a join token needs at least 16 characters');
    const d = digest(token);
    this.revoked.delete(d);
    this.byDigest.set(d, { name, source: 'admin' });
  }

  /** Revokes a token: it no longer admits anyone, and sessions it admitted are told to end (`onRevoke`). */
  revoke(token: string): boolean {
    return this.revokeDigest(digest(token));
  }

  revokeDigest(d: string): boolean {
    const had = this.byDigest.delete(d);
    this.revoked.add(d);
    if (had) for (const l of this.listeners) l(d);
    return had;
  }

  onRevoke(listener: (tokenDigest: string) => void): void {
    this.listeners.push(listener);
  }

  /** The digest and name of a valid token; UNAUTHENTICATED otherwise. */
  verify(token: string): { digest: string; name: string } {
    const d = digest(token);
    for (const [known, entry] of this.byDigest) {
      if (sameDigest(known, d)) return { digest: known, name: entry.name };
    }
    throw new FedpeftError(
      'UNAUTHENTICATED',
      this.revoked.has(d)
        ? 'this join token was revoked; ask the operator for a new one'
        : 'unknown join token; check the token the operator gave you (fedpeft join --token ...)',
    );
  }

  isValidDigest(d: string): boolean {
    return this.byDigest.has(d);
  }

  /** Loads a token file now and again whenever it changes; tokens removed from the file are revoked. */
  watchFile(path: string, onReload?: (count: number, error?: Error) => void): void {
    this.file = path;
    this.reload(path);
    watchFile(path, { interval: 500 }, () => {
      try {
        const count = this.reload(path);
        onReload?.(count);
      } catch (err) {
        onReload?.(this.byDigest.size, err as Error);
      }
    });
  }

  stop(): void {
    if (this.file) unwatchFile(this.file);
  }

  private reload(path: string): number {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new FedpeftError('INVALID_CONFIG', `cannot read token file ${path}: ${(err as Error).message}`);
    }
    const fresh = new Map<string, TokenEntry>();
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon) : `line-${i + 1}`;
      const token = colon > 0 ? line.slice(colon + 1).trim() : line;
      if (token.length >= 16) fresh.set(digest(token), { name, source: 'file' });
    });
    for (const [d, entry] of [...this.byDigest]) {
      if (entry.source === 'file' && !fresh.has(d)) this.revokeDigest(d);
    }
    for (const [d, entry] of fresh) {
      this.revoked.delete(d);
      this.byDigest.set(d, entry);
    }
    return fresh.size;
  }
}
