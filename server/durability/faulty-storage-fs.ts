/**
 * A `StorageFs` that behaves like a real disk going wrong, for fault-injection tests: it writes through to
 * the real filesystem until told otherwise, then
 * - `fillUp(bytes)`: the disk has `bytes` left — a write that does not fit writes what fits and reports a
 *   short count, the next one fails with ENOSPC (what a full ext4 does);
 * - `shortWrites(max)`: every write call stores at most `max` bytes (legal short writes: data must still
 *   arrive whole);
 * - `readOnly()`: every open for writing, rename, mkdir and rm fails with EROFS (a disk remounted read-only);
 * - `heal()`: space returns / the disk is writable again;
 * - `scope(pattern)`: faults hit only paths matching `pattern` (a checkpoint disk separate from the journal's).
 */
import { nodeStorageFs, type StorageFile, type StorageFs } from './durable-fs.ts';

function osError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const text =
    code === 'ENOSPC' ? 'no space left on device' : code === 'EROFS' ? 'read-only file system' : code;
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${path}'`), { code, syscall, path });
}

export class FaultyStorageFs implements StorageFs {
  private spaceLeft = Infinity;
  private maxPerWrite = Infinity;
  private readonlyDiskFlag = false;
  private only: RegExp | null = null;
  /** Write calls that failed or were cut short (tests assert the fault was actually hit). */
  faultsHit = 0;

  constructor(private readonly inner: StorageFs = nodeStorageFs) {}

  fillUp(bytesLeft = 0): void {
    this.spaceLeft = bytesLeft;
  }
  shortWrites(maxBytesPerWrite: number): void {
    this.maxPerWrite = maxBytesPerWrite;
  }
  readOnly(): void {
    this.readonlyDiskFlag = true;
  }
  scope(pattern: RegExp | null): void {
    this.only = pattern;
  }
  private hits(path: string): boolean {
    return this.only === null || this.only.test(path);
  }
  heal(): void {
    this.spaceLeft = Infinity;
    this.maxPerWrite = Infinity;
    this.readonlyDiskFlag = false;
  }

  async open(path: string, flags: 'w' | 'r'): Promise<StorageFile> {
    const readonlyDisk = () => this.readonlyDiskFlag && this.hits(path);
    if (flags === 'w' && readonlyDisk()) {
      this.faultsHit++;
      throw osError('EROFS', 'open', path);
    }
    const file = await this.inner.open(path, flags);
    return {
      write: async (buffer, offset, length, position) => {
        if (readonlyDisk()) {
          this.faultsHit++;
          throw osError('EROFS', 'write', path);
        }
        if (!this.hits(path)) return file.write(buffer, offset, length, position);
        if (this.spaceLeft <= 0) {
          this.faultsHit++;
          throw osError('ENOSPC', 'write', path);
        }
        const n = Math.min(length, this.maxPerWrite, this.spaceLeft);
        if (n < length) this.faultsHit++;
        const out = await file.write(buffer, offset, n, position);
        this.spaceLeft -= out.bytesWritten;
        return out;
      },
      sync: () => file.sync(),
      stat: () => file.stat(),
      close: () => file.close(),
    };
  }

  rename(from: string, to: string): Promise<void> {
    if (this.readonlyDiskFlag && this.hits(to)) {
      this.faultsHit++;
      return Promise.reject(osError('EROFS', 'rename', to));
    }
    return this.inner.rename(from, to);
  }

  mkdir(path: string): Promise<void> {
    if (this.readonlyDiskFlag && this.hits(path)) {
      this.faultsHit++;
      return Promise.reject(osError('EROFS', 'mkdir', path));
    }
    return this.inner.mkdir(path);
  }

  rm(path: string): Promise<void> {
    if (this.readonlyDiskFlag && this.hits(path)) {
      this.faultsHit++;
      return Promise.reject(osError('EROFS', 'rm', path));
    }
    return this.inner.rm(path);
  }
}
