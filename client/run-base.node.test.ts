/**
 * The client's copy of the run's base: a `--base` with another fingerprint is refused naming both; a download
 * is verified before it is published into the cache (a corrupted transfer leaves nothing behind), and a cached
 * copy is reused without contacting the coordinator.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBaseDir } from './run-base.node.ts';

let root: string;
const weights = new Uint8Array(5000).map((_, i) => (i * 31) % 251);
const sha256 = createHash('sha256').update(weights).digest('hex');
const base = { sha256, bytes: weights.length };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fedpeft-client-base-'));
});
afterAll(async () => rm(root, { recursive: true, force: true }));

/** A coordinator stand-in: serves `body` for the weights file and counts requests. */
function fakeCoordinator(body: Uint8Array) {
  const calls: string[] = [];
  const fetchImpl = ((url: URL, init?: RequestInit) => {
    calls.push(`${url.pathname} ${(init?.headers as Record<string, string>).authorization}`);
    if (url.pathname.endsWith('/config.json')) return Promise.resolve(new Response('{"kind":"gpt"}'));
    return Promise.resolve(new Response(Buffer.from(body)));
  }) as typeof fetch;
  return { calls, fetchImpl };
}

describe('runBaseDir', () => {
  it('refuses a --base with another fingerprint, naming both', async () => {
    const dir = join(root, 'mine');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'model.safetensors'), new Uint8Array([1, 2, 3]));
    const other = createHash('sha256')
      .update(new Uint8Array([1, 2, 3]))
      .digest('hex');
    const err = await runBaseDir({ base, serverUrl: 'http://x', token: 't', localDir: dir }).catch(
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(other);
    expect((err as Error).message).toContain(sha256);
    expect((err as Error).message).not.toContain('\n');
  });

  it('rejects a corrupted download and publishes nothing', async () => {
    const cacheDir = join(root, 'cache-corrupt');
    const bad = weights.slice();
    bad[100] = bad[100]! ^ 1;
    const { fetchImpl } = fakeCoordinator(bad);
    await expect(
      runBaseDir({ base, serverUrl: 'http://x', token: 't', cacheDir, fetch: fetchImpl }),
    ).rejects.toThrow(/corrupted/);
    expect(await readdir(join(cacheDir, 'run-bases'))).toEqual([]);
  });

  it('downloads with the token, verifies, caches by fingerprint, and reuses the cache', async () => {
    const cacheDir = join(root, 'cache-ok');
    const { calls, fetchImpl } = fakeCoordinator(weights);
    const dir = await runBaseDir({
      base,
      serverUrl: 'http://coord:9',
      token: 'tok',
      cacheDir,
      fetch: fetchImpl,
    });
    expect(dir).toBe(join(cacheDir, 'run-bases', sha256));
    expect(new Uint8Array(await readFile(join(dir, 'model.safetensors')))).toEqual(weights);
    expect(calls).toEqual([
      `/base/${sha256}/model.safetensors Bearer tok`,
      `/base/${sha256}/config.json Bearer tok`,
    ]);
    expect(
      await runBaseDir({ base, serverUrl: 'http://coord:9', token: 'tok', cacheDir, fetch: fetchImpl }),
    ).toBe(dir);
    expect(calls).toHaveLength(2);
  });
});
