/**
 * Unusable run directories at start, and a real full disk: the injected read-only layer, a file where the
 * folder should be, a folder without write permission (skipped as root, where permissions do not bind),
 * and — where the tests run as root and may mount — a real read-only tmpfs and a real 64 KiB tmpfs that
 * fills up under the journal. The `fedpeft serve` process test checks the one-line error and exit code 2.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RoundJournal } from '../round-journal.ts';
import { FaultyStorageFs } from './faulty-storage-fs.ts';
import { assertUsableRunDir } from './run-dir-check.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const isRoot = process.getuid?.() === 0;
const mounted: string[] = [];
afterAll(() => {
  for (const m of mounted) spawnSync('umount', [m]);
});

/** Mounts a tmpfs of `size` (e.g. '64k') with `options`; null when this machine does not allow it. */
async function tmpfs(size: string, options = ''): Promise<string | null> {
  if (!isRoot) return null;
  const dir = await mkdtemp(join(tmpdir(), 'fedpeft-tmpfs-'));
  const r = spawnSync('mount', [
    '-t',
    'tmpfs',
    '-o',
    `size=${size}${options ? `,${options}` : ''}`,
    'tmpfs',
    dir,
  ]);
  if (r.status !== 0) return null;
  mounted.push(dir);
  return dir;
}

describe('assertUsableRunDir', () => {
  it('a read-only disk (injected) is one actionable line', async () => {
    const fs = new FaultyStorageFs();
    fs.readOnly();
    const dir = join(await mkdtemp(join(tmpdir(), 'fedpeft-ro-')), 'run');
    await expect(assertUsableRunDir(dir, fs)).rejects.toMatchObject({
      code: 'RUN_DIR_UNUSABLE',
      message: expect.stringMatching(
        /^run directory .* \(EROFS: the disk is mounted read-only\): make it writable or pass --run-dir/,
      ),
    });
  });

  it('a file where the folder should be', async () => {
    const base = await mkdtemp(join(tmpdir(), 'fedpeft-file-'));
    await writeFile(join(base, 'runs'), 'not a folder');
    const err = (await assertUsableRunDir(join(base, 'runs', 'r1')).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'RUN_DIR_UNUSABLE' });
    expect(err.message).toMatch(/\((ENOTDIR|EEXIST): /);
    expect(err.message.split('\n')).toHaveLength(1);
  });

  it.skipIf(isRoot)('a folder without write permission (not as root: root ignores permissions)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedpeft-perm-'));
    await chmod(dir, 0o555);
    try {
      await expect(assertUsableRunDir(dir)).rejects.toMatchObject({
        message: expect.stringContaining('EACCES: this user may not write there'),
      });
    } finally {
      await chmod(dir, 0o755);
    }
  });

  it('a real read-only tmpfs (root only)', async (ctx) => {
    const dir = await tmpfs('64k', 'ro');
    if (!dir) return ctx.skip('needs root and permission to mount a tmpfs');
    await expect(assertUsableRunDir(dir)).rejects.toMatchObject({
      message: expect.stringContaining('EROFS: the disk is mounted read-only'),
    });
  });

  it('an unusable run directory makes `fedpeft serve` exit 2 with one line, no stack trace', async () => {
    const base = await mkdtemp(join(tmpdir(), 'fedpeft-serve-ro-'));
    await writeFile(join(base, 'runs'), 'not a folder');
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin', 'fedpeft.js'), 'serve', '--run-dir', join(base, 'runs', 'r1'), '--port', '0'],
      { cwd: ROOT, stdio: 'pipe' },
    );
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, err).toBe(2);
    const lines = err.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^fedpeft: run directory .* cannot hold the run's state/);
    expect(err).not.toMatch(/\n\s+at /);
  }, 60_000);
});

describe('the journal on a real full tmpfs (root only)', () => {
  it('refuses the entry that does not fit, leaves no partial file, and takes it once space is freed', async (ctx) => {
    const dir = await tmpfs('64k');
    if (!dir) return ctx.skip('needs root and permission to mount a tmpfs');
    const journal = new RoundJournal(dir);
    const entry = (sessionId: string) => ({
      round: 1,
      sessionId,
      transferId: `t-${sessionId}`,
      weight: 1,
      numExamples: 1,
      trainedExtents: {},
      trainLoss: null,
      globalValLoss: null,
      personalValLoss: null,
      tensors: new Map([
        ['A', { shape: [5000], data: new Float32Array(5000).fill(Number(sessionId.slice(1))) }],
      ]),
    });
    const stored: string[] = [];
    let refused: unknown;
    for (let i = 0; i < 10 && !refused; i++) {
      try {
        await journal.append(entry(`s${i}`));
        stored.push(`s${i}`);
      } catch (err) {
        refused = err;
      }
    }
    expect(refused).toMatchObject({ code: 'STORAGE_UNAVAILABLE', osCode: 'ENOSPC' });
    const files = await readdir(join(dir, 'journal', 'round-1'));
    expect(files.filter((f) => f.startsWith('.'))).toEqual([]);
    expect((await journal.read(1)).map((e) => e.sessionId)).toEqual(stored);
    // Free space (as an operator would), then the refused update goes in whole.
    await rm(join(dir, 'journal', 'round-1', files.sort()[0]!));
    await mkdir(join(dir, 'journal', 'round-1'), { recursive: true });
    const retried = `s${stored.length}`;
    await journal.append(entry(retried));
    const replay = await new RoundJournal(dir).read(1);
    expect(replay.map((e) => e.sessionId)).toEqual([...stored.slice(1), retried]);
    expect(Array.from(replay.at(-1)!.tensors.get('A')!.data.slice(0, 3))).toEqual([
      stored.length,
      stored.length,
      stored.length,
    ]);
  });
});
