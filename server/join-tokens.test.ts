import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JoinTokens } from './join-tokens.ts';

describe('JoinTokens', () => {
  it('admits known tokens, refuses unknown and revoked ones, and tells listeners about revocations', () => {
    const tokens = new JoinTokens(['alpha-token-0123456789']);
    expect(tokens.verify('alpha-token-0123456789').name).toBe('token-1');
    expect(() => tokens.verify('beta-token-0123456789')).toThrow(/unknown join token/);
    const revoked: string[] = [];
    tokens.onRevoke((d) => revoked.push(d));
    expect(tokens.revoke('alpha-token-0123456789')).toBe(true);
    expect(revoked).toHaveLength(1);
    expect(() => tokens.verify('alpha-token-0123456789')).toThrow(/revoked/);
  });

  it('reloads a token file when it changes; a token removed from the file is revoked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedpeft-tokens-'));
    const file = join(dir, 'tokens.txt');
    const tokens = new JoinTokens();
    try {
      await writeFile(file, '# clients\nalice:alice-token-0123456789\nbob:bob-token-01234567890\n');
      tokens.watchFile(file);
      expect(tokens.verify('bob-token-01234567890').name).toBe('bob');
      let reloaded = false;
      const revoked: string[] = [];
      tokens.onRevoke((d) => revoked.push(d));
      tokens.stop();
      tokens.watchFile(file, () => (reloaded = true));
      await new Promise((r) => setTimeout(r, 50));
      await writeFile(file, 'alice:alice-token-0123456789\n');
      const start = Date.now();
      while (!reloaded && Date.now() - start < 5_000) await new Promise((r) => setTimeout(r, 50));
      expect(reloaded).toBe(true);
      expect(() => tokens.verify('bob-token-01234567890')).toThrow(/revoked/);
      expect(tokens.verify('alice-token-0123456789').name).toBe('alice');
      expect(revoked).toHaveLength(1);
    } finally {
      tokens.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
