import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertFreshRunDir, moveEarlierRunAside } from './run-dir-guard.ts';

describe('assertFreshRunDir', () => {
  it('accepts an empty or new run directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedpeft-guard-'));
    await expect(assertFreshRunDir(dir, { fresh: false })).resolves.toBeUndefined();
    await expect(assertFreshRunDir(join(dir, 'nope'), { fresh: false })).resolves.toBeUndefined();
  });

  it('refuses a directory with checkpoints or a journal unless told --fresh', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedpeft-guard-'));
    await mkdir(join(dir, 'checkpoints', 'round-000003'), { recursive: true });
    await mkdir(join(dir, 'journal', 'round-4'), { recursive: true });
    const refused = assertFreshRunDir(dir, { fresh: false });
    await expect(refused).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    await expect(refused).rejects.toThrow(
      /already holds a run \(1 checkpoint\(s\), a journal of 1 round\(s\)\): continue it with --resume, or start over in it with --fresh$/,
    );
    await expect(assertFreshRunDir(dir, { fresh: true })).resolves.toBeUndefined();
  });

  it('--fresh moves the earlier run aside instead of deleting it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedpeft-guard-'));
    await mkdir(join(dir, 'checkpoints', 'round-000001'), { recursive: true });
    await writeFile(join(dir, 'run-id'), 'old\n');
    const aside = await moveEarlierRunAside(dir, new Date('2026-01-02T03:04:05Z'));
    expect(aside).toBe(join(dir, 'previous-2026-01-02T03-04-05-000Z'));
    expect((await readdir(aside)).sort()).toEqual(['checkpoints', 'run-id']);
    await expect(assertFreshRunDir(dir, { fresh: false })).resolves.toBeUndefined();
  });
});
