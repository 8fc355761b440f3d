/**
 * `fedpeft serve` checks, before it loads anything, that its run directory can hold durable state: it creates
 * the directory and durably writes and removes a probe file through the same writer as the journal. A run
 * directory on a read-only disk, without write permission, on a full disk, or under a path that is a file
 * fails here as one line naming the directory, the operating system's reason and what to do — exit code 2,
 * no stack trace — instead of failing later mid-run.
 */
import { join } from 'node:path';
import { FedpeftError } from '../../shared/errors.ts';
import {
  isStorageError,
  makeDirectory,
  nodeStorageFs,
  removeDurably,
  writeDurably,
  type StorageFs,
} from './durable-fs.ts';

const PROBE = '.write-probe';

const ADVICE: Record<string, string> = {
  EROFS: 'the disk is mounted read-only',
  EACCES: 'this user may not write there',
  EPERM: 'this user may not write there',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'a file of that name is in the way',
};

export async function assertUsableRunDir(runDir: string, fs: StorageFs = nodeStorageFs): Promise<void> {
  try {
    await makeDirectory(fs, runDir);
    await writeDurably(fs, join(runDir, PROBE), 'fedpeft write probe\n');
    await removeDurably(fs, join(runDir, PROBE));
  } catch (err) {
    if (!isStorageError(err)) throw err;
    const why = ADVICE[err.osCode] ?? 'it cannot be written';
    throw new FedpeftError(
      'RUN_DIR_UNUSABLE',
      `run directory ${runDir} cannot hold the run's state (${err.osCode}: ${why}): make it writable or pass --run-dir <a writable folder>`,
    );
  }
}
