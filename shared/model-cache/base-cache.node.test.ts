import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import {
  baseCacheKey,
  baseConfig,
  defaultCacheDir,
  ensurePretrainedBase,
  findPretrainedBase,
} from './base-cache.node.ts';
import { acquireLock } from './file-lock.node.ts';

const RECIPE = {
  size: 'test-gpt',
  corpus: 'moby-dick',
  seed: 1,
  steps: 12,
  warmupSteps: 2,
  learningRate: 1e-2,
  evalEvery: 100,
  evalWindows: 8,
  finalEvalWindows: 8,
} as const;

let root: string;
beforeAll(async () => {
  await useBackend('wasm');
  root = await mkdtemp(join(tmpdir(), 'fedpeft-cache-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('baseCacheKey / defaultCacheDir', () => {
  it('names size and corpus and changes with any training field but not with evaluation cadence', () => {
    const key = baseCacheKey(baseConfig(RECIPE));
    expect(key).toMatch(/^test-gpt-moby-dick-[0-9a-f]{12}$/);
    expect(baseCacheKey(baseConfig({ ...RECIPE, learningRate: 2e-2 }))).not.toBe(key);
    expect(baseCacheKey(baseConfig({ ...RECIPE, steps: 13 }))).not.toBe(key);
    expect(baseCacheKey(baseConfig({ ...RECIPE, evalEvery: 5 }))).toBe(key);
    // No budget given: the default 5 minutes.
    expect(baseConfig({}).minutes).toBe(5);
  });

  it('honours FEDPEFT_CACHE_DIR, then XDG_CACHE_HOME', () => {
    expect(defaultCacheDir({ FEDPEFT_CACHE_DIR: '/x/y' })).toBe('/x/y');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/c' })).toBe('/c/fedpeft');
    expect(defaultCacheDir({})).toMatch(/\.cache\/fedpeft$/);
  });
});

describe('ensurePretrainedBase', () => {
  it('trains once under concurrent callers, publishes atomically, and reuses the base afterwards', async () => {
    const before = tf.memory().numTensors;
    const cacheDir = join(root, 'concurrent');
    expect(await findPretrainedBase({ ...RECIPE, cacheDir })).toBeNull();
    let trainedSteps = 0;
    const waits: string[] = [];
    const [a, b] = await Promise.all(
      [0, 1].map(() =>
        ensurePretrainedBase({
          ...RECIPE,
          cacheDir,
          events: { onStep: () => trainedSteps++ },
          log: (line) => line.startsWith('waiting') && waits.push(line),
          lock: { pollMs: 20 },
        }),
      ),
    );
    // Exactly one caller trained (12 steps in total), the other waited and reused its result.
    expect([a!.created, b!.created].sort()).toEqual([false, true]);
    expect(trainedSteps).toBe(12);
    expect(waits).toHaveLength(1);
    expect(a!.dir).toBe(b!.dir);
    expect(a!.summary.steps).toBe(12);
    // Only the published base is left: no lock, no partial directory.
    expect(await readdir(join(cacheDir, 'bases'))).toEqual([a!.key]);

    // A later call is a pure cache hit.
    const again = await ensurePretrainedBase({
      ...RECIPE,
      cacheDir,
      events: { onStep: () => trainedSteps++ },
    });
    expect(again.created).toBe(false);
    expect(trainedSteps).toBe(12);
    expect((await findPretrainedBase({ ...RECIPE, cacheDir }))?.dir).toBe(a!.dir);

    const model = await loadCheckpoint(again.dir);
    expect([...model.parameters().keys()]).toContain('embed.token');
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('takes over a stale lock left by a dead process', async () => {
    const cacheDir = join(root, 'stale');
    const key = baseCacheKey(baseConfig(RECIPE));
    await rm(cacheDir, { recursive: true, force: true });
    const bases = join(cacheDir, 'bases');
    await import('node:fs/promises').then((fs) => fs.mkdir(bases, { recursive: true }));
    // pid 2^22+1 is above Linux's pid_max default range and not alive.
    await writeFile(
      join(bases, `${key}.lock`),
      JSON.stringify({ pid: 4194305, host: hostname(), createdAt: new Date(0).toISOString() }),
    );
    const base = await ensurePretrainedBase({ ...RECIPE, cacheDir, lock: { pollMs: 20, timeoutMs: 5_000 } });
    expect(base.created).toBe(true);
  });
});

describe('acquireLock', () => {
  it('excludes a second holder until release, treats an old heartbeat as stale, and times out clearly', async () => {
    const path = join(root, 'x.lock');
    const first = await acquireLock(path, { staleMs: 60_000 });
    await expect(acquireLock(path, { pollMs: 10, timeoutMs: 100 })).rejects.toThrow(
      new RegExp(`held by pid ${process.pid}`),
    );
    await first.release();
    const second = await acquireLock(path, { pollMs: 10, timeoutMs: 100 });
    // Its owner (this process) is alive, but a heartbeat older than staleMs marks the lock abandoned.
    await second.release();
    const held = await acquireLock(path, { heartbeatMs: 60_000 });
    const old = new Date(Date.now() - 10_000);
    await utimes(path, old, old);
    const taker = await acquireLock(path, { staleMs: 5_000, pollMs: 10, timeoutMs: 1_000 });
    expect((await stat(path)).mtimeMs).toBeGreaterThan(old.getTime());
    // The old owner waking up must not remove its successor's lock.
    await held.release();
    expect((await stat(path)).isFile()).toBe(true);
    await taker.release();
    await expect(stat(path)).rejects.toThrow(/ENOENT/);
  });
});
