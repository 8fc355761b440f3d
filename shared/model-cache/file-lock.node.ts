/**
 * An exclusive lock file between processes (Node-only), so two processes never pretrain the same base at once.
 *
 * Acquire = create the file with `O_EXCL` (`wx`): exactly one creator wins, on every local file system. The
 * owner refreshes the file's mtime (a heartbeat) while it holds the lock. A lock is *stale* — its owner died
 * without releasing it — when the owner's pid is gone on this host, or when its heartbeat is older than
 * `staleMs` (an owner on another host sharing the directory, or a hung one). A stale lock is moved aside with
 * an atomic rename before it is removed, and the rename is checked, so two waiters that both saw the same
 * stale lock cannot both remove a fresh one. Waiters poll, and give up after `timeoutMs` with a message that
 * names the lock file and its owner.
 */
import { open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { FedpeftError } from '../errors.ts';

export interface LockOptions {
  /** A heartbeat older than this marks the lock stale. Default 60 s. */
  staleMs?: number;
  /** Heartbeat period. Default staleMs / 4. */
  heartbeatMs?: number;
  /** Poll period while waiting. Default 250 ms. */
  pollMs?: number;
  /** Give up waiting after this long. Default 30 minutes (a default pretraining takes ~5). */
  timeoutMs?: number;
  /** Called once when this process has to wait for another owner. */
  onWait?(owner: LockOwner | null): void;
}

export interface LockOwner {
  pid: number;
  host: string;
  createdAt: string;
  /** Unique per acquisition: `release()` compares contents, and two acquisitions by one process within the
   * same millisecond would otherwise look identical (an old owner could then delete its successor's lock). */
  nonce?: string;
}

export interface FileLock {
  readonly path: string;
  release(): Promise<void>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readOwner(path: string): Promise<{ owner: LockOwner | null; raw: string } | null> {
  try {
    const raw = await readFile(path, 'utf8');
    try {
      return { owner: JSON.parse(raw) as LockOwner, raw };
    } catch {
      return { owner: null, raw }; // being written right now, or garbage
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function isStale(path: string, owner: LockOwner | null, staleMs: number): Promise<boolean> {
  if (owner && owner.host === hostname() && !isAlive(owner.pid)) return true;
  try {
    const s = await stat(path);
    return Date.now() - s.mtimeMs > staleMs;
  } catch {
    return false; // gone already: the next create attempt decides
  }
}

/** Moves a stale lock aside; if what was moved is not the lock judged stale, puts it back. */
async function breakStaleLock(path: string, staleRaw: string): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${Date.now()}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = await readFile(aside, 'utf8').catch(() => null);
  if (moved !== null && moved !== staleRaw) {
    // Another waiter replaced the stale lock with a live one in between: hand it back.
    await rename(aside, path).catch(() => undefined);
    return;
  }
  await unlink(aside).catch(() => undefined);
}

export async function acquireLock(path: string, options: LockOptions = {}): Promise<FileLock> {
  const staleMs = options.staleMs ?? 60_000;
  const heartbeatMs = options.heartbeatMs ?? Math.max(10, Math.floor(staleMs / 4));
  const pollMs = options.pollMs ?? 250;
  const timeoutMs = options.timeoutMs ?? 30 * 60_000;
  const started = Date.now();
  let announced = false;
  const me: LockOwner = {
    pid: process.pid,
    host: hostname(),
    createdAt: new Date().toISOString(),
    nonce: randomUUID(),
  };
  for (;;) {
    try {
      const handle = await open(path, 'wx');
      const content = JSON.stringify(me);
      try {
        await handle.writeFile(content);
      } finally {
        await handle.close();
      }
      return heldLock(path, content, heartbeatMs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const current = await readOwner(path);
    if (current && (await isStale(path, current.owner, staleMs))) {
      await breakStaleLock(path, current.raw);
      continue;
    }
    if (Date.now() - started > timeoutMs) {
      const who = current?.owner ? `pid ${current.owner.pid} on ${current.owner.host}` : 'an unknown process';
      throw new FedpeftError(
        'LOCK_TIMEOUT',
        `gave up after ${Math.round(timeoutMs / 1000)} s waiting for ${path}, held by ${who}; ` +
          'if that process is gone, delete the lock file',
      );
    }
    if (!announced) {
      announced = true;
      options.onWait?.(current?.owner ?? null);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

function heldLock(path: string, content: string, heartbeatMs: number): FileLock {
  const timer = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, heartbeatMs);
  // A held lock must not keep the process alive on its own.
  timer.unref();
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      // An owner whose lock was broken as stale must not delete its successor's lock.
      const current = await readFile(path, 'utf8').catch(() => null);
      if (current !== content) return;
      await unlink(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    },
  };
}
