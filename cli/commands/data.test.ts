import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../main.ts';

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  const code = await main(['node', 'fedpeft', 'data', 'summary', ...args]);
  vi.restoreAllMocks();
  return { code, out, err };
}

afterEach(() => vi.restoreAllMocks());

describe('fedpeft data summary', () => {
  it('prints the partition table of a natural partition', async () => {
    const r = await run('--dataset', 'sotu', '--partition', 'party');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^sotu: natural\(by=party\), seed 0/);
    expect(r.out).toContain('Republican');
    expect(r.out).toMatch(/total \(\d+ clients\)/);
  });

  it('prints JSON with --json, reproducibly from --seed', async () => {
    const args = [
      '--dataset',
      'sotu',
      '--partition',
      'dirichlet',
      '--clients',
      '4',
      '--alpha',
      '0.3',
      '--seed',
      '9',
      '--json',
    ];
    const a = await run(...args);
    const b = await run(...args);
    expect(a.code).toBe(0);
    expect(a.out).toBe(b.out);
    const summary = JSON.parse(a.out) as { scheme: string; seed: number; clients: unknown[] };
    expect(summary.scheme).toBe('dirichlet(alpha=0.3, clients=4)');
    expect(summary.seed).toBe(9);
    expect(summary.clients.length).toBeGreaterThan(0);
  });

  it.each([
    [['--dataset', 'nope', '--partition', 'iid'], /unknown dataset 'nope'/],
    [['--dataset', 'sotu', '--partition', 'group'], /--partition group does not apply to sotu/],
    [['--dataset', 'sotu', '--partition', 'split'], /unknown --partition 'split'/],
    [
      ['--dataset', 'sotu', '--partition', 'iid', '--clients', 'ten'],
      /--clients must be a number, got 'ten'/,
    ],
    [['--dataset', 'sotu', '--partition', 'iid', '--alpha', '1'], /--alpha applies only to/],
    [['--dataset', 'sotu', '--partition', 'dirichlet', '--alpha', '0'], /--alpha: alpha must be > 0/],
    [['--dataset', 'moby-dick', '--partition', 'dirichlet'], /has no labels/],
  ])('bad flags give one clear line: %j', async (args, message) => {
    const r = await run(...args);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(message);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });
});
