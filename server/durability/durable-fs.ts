/**
 * The one way the coordinator writes state it must not lose (journal entries, checkpoints): every byte goes
 * through a small `StorageFs` interface, so tests can put a failing filesystem underneath (disk full, short
 * writes, read-only) and exercise the very code that runs in production.
 *
 * `writeDurably` is write-file-atomic done carefully: a temporary file in the same directory, a write loop
 * that continues after a short write and fails on a write that makes no progress, the file's size checked
 * against the bytes meant, fsync of the file, rename over the target, fsync of the directory (so the rename
 * itself survives a power cut). Any failure removes the temporary file and throws a `StorageError` naming the
 * path and the operating system's reason (ENOSPC, EROFS, ...), never a half-written target.
 */
import * as fsp from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FedpeftError } from '../../shared/errors.ts';

/** The part of a node FileHandle the durable writer uses. */
export interface StorageFile {
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

/** The filesystem operations durable state is written with (node's by default; fault-injecting in tests). */
export interface StorageFs {
  open(path: string, flags: 'w' | 'r'): Promise<StorageFile>;
  rename(from: string, to: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  rm(path: string): Promise<void>;
}

export const nodeStorageFs: StorageFs = {
  open: (path, flags) => fsp.open(path, flags),
  rename: (from, to) => fsp.rename(from, to),
  mkdir: async (path) => {
    await fsp.mkdir(path, { recursive: true });
  },
  rm: (path) => fsp.rm(path, { recursive: true, force: true }),
};

/**
 * A durable write failed. `cause` is the operating system's error; `code` is the wire code clients get
 * (retryable: the same update can be stored once the disk has room again).
 */
export class StorageError extends FedpeftError {
  readonly osCode: string;
  constructor(
    readonly operation: string,
    readonly path: string,
    cause: unknown,
  ) {
    const osCode = (cause as NodeJS.ErrnoException | undefined)?.code ?? 'EIO';
    super(
      'STORAGE_UNAVAILABLE',
      `${operation} ${path} failed: ${(cause as Error)?.message ?? String(cause)}`,
    );
    this.osCode = osCode;
    this.cause = cause;
  }
}

export function isStorageError(err: unknown): err is StorageError {
  return err instanceof StorageError;
}

let tempCounter = 0;

async function syncDirectory(fs: StorageFs, dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `bytes` to `path` completely and durably, or throws a StorageError and leaves `path` untouched. */
export async function writeDurably(fs: StorageFs, path: string, bytes: Uint8Array | string): Promise<void> {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${tempCounter++}.tmp`);
  let step = 'open';
  try {
    const file = await fs.open(tmp, 'w');
    try {
      step = 'write';
      let done = 0;
      while (done < data.byteLength) {
        const { bytesWritten } = await file.write(data, done, data.byteLength - done, done);
        // A short write is legal (continue from where it stopped); one that writes nothing never finishes.
        if (!(bytesWritten > 0)) {
          throw Object.assign(new Error(`write made no progress at byte ${done} of ${data.byteLength}`), {
            code: 'ENOSPC',
          });
        }
        done += bytesWritten;
      }
      step = 'fsync';
      await file.sync();
      step = 'verify';
      const { size } = await file.stat();
      if (size !== data.byteLength) {
        throw Object.assign(new Error(`the file holds ${size} bytes, ${data.byteLength} were written`), {
          code: 'EIO',
        });
      }
    } finally {
      await file.close().catch(() => undefined);
    }
    step = 'rename';
    await fs.rename(tmp, path);
    step = 'fsync directory of';
    await syncDirectory(fs, dir);
  } catch (err) {
    if (step !== 'fsync directory of') await fs.rm(tmp).catch(() => undefined);
    throw new StorageError(step === 'open' ? 'create' : step, step === 'rename' ? path : tmp, err);
  }
}

/** Creates `dir` (and its parents), as a StorageError on failure. */
export async function makeDirectory(fs: StorageFs, dir: string): Promise<void> {
  try {
    await fs.mkdir(dir);
  } catch (err) {
    throw new StorageError('mkdir', dir, err);
  }
}

/** Removes `path` (recursively, missing is fine) and makes the removal durable by syncing its directory. */
export async function removeDurably(fs: StorageFs, path: string): Promise<void> {
  try {
    await fs.rm(path);
    await syncDirectory(fs, dirname(path));
  } catch (err) {
    throw new StorageError('remove', path, err);
  }
}

/** Renames `from` to `to` and syncs the target's directory. */
export async function renameDurably(fs: StorageFs, from: string, to: string): Promise<void> {
  try {
    await fs.rename(from, to);
    await syncDirectory(fs, dirname(to));
  } catch (err) {
    throw new StorageError('rename', to, err);
  }
}

/** Runs a write done with plain node calls, turning its OS error into a StorageError (for retryStorage). */
export async function asStorageWrite<T>(
  operation: string,
  path: string,
  write: () => Promise<T>,
): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (isStorageError(err) || typeof (err as NodeJS.ErrnoException)?.code !== 'string') throw err;
    throw new StorageError(operation, path, err);
  }
}
