/**
 * The durable writer under a failing disk: full-length writes survive legal short writes, a disk that fills
 * up mid-write or turns read-only gives a StorageError naming the OS cause, and the target keeps its old
 * content (no torn file, no temporary file left behind).
 */
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isStorageError, writeDurably } from './durable-fs.ts';
import { FaultyStorageFs } from './faulty-storage-fs.ts';
import { RoundJournal } from '../round-journal.ts';
import { StorageHealth } from './storage-health.ts';
import { MemoryLogger } from '../logger.ts';

const payload = Buffer.from(Array.from({ length: 50_000 }, (_, i) => i % 251));

async function dir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'fedpeft-durable-'));
}

describe('writeDurably', () => {
  it('writes every byte through short writes', async () => {
    const d = await dir();
    const fs = new FaultyStorageFs();
    fs.shortWrites(4096);
    await writeDurably(fs, join(d, 'f.bin'), payload);
    expect(fs.faultsHit).toBeGreaterThan(0);
    expect((await readFile(join(d, 'f.bin'))).equals(payload)).toBe(true);
    expect(await readdir(d)).toEqual(['f.bin']);
  });

  it.each([
    ['the disk fills up part-way', (fs: FaultyStorageFs) => fs.fillUp(10_000), 'ENOSPC'],
    ['the disk is full', (fs: FaultyStorageFs) => fs.fillUp(0), 'ENOSPC'],
    ['the disk is read-only', (fs: FaultyStorageFs) => fs.readOnly(), 'EROFS'],
  ])('%s: StorageError with the cause, old content kept, no temporary left', async (_n, fault, osCode) => {
    const d = await dir();
    const target = join(d, 'f.bin');
    await writeFile(target, 'old');
    const fs = new FaultyStorageFs();
    fault(fs);
    const err: unknown = await writeDurably(fs, target, payload).catch((e: unknown) => e);
    expect(isStorageError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'STORAGE_UNAVAILABLE', osCode });
    expect((err as Error).message).toContain(osCode);
    expect(await readFile(target, 'utf8')).toBe('old');
    expect(await readdir(d)).toEqual(['f.bin']);
  });
});

const entry = (sessionId: string) => ({
  round: 3,
  sessionId,
  transferId: `t-${sessionId}`,
  weight: 2,
  numExamples: 2,
  trainedExtents: {},
  trainLoss: null,
  globalValLoss: null,
  personalValLoss: null,
  tensors: new Map([['A', { shape: [payload.length / 4], data: new Float32Array(payload.buffer.slice(0)) }]]),
});

describe('RoundJournal on a failing disk', () => {
  it('refuses an entry it cannot store in full, logs the cause once, and keeps the stored ones', async () => {
    const d = await dir();
    const fs = new FaultyStorageFs();
    const logger = new MemoryLogger();
    const health = new StorageHealth(logger);
    const journal = new RoundJournal(d, { fs, health });
    await journal.append(entry('s0'));
    fs.fillUp(12_000); // the next entry is cut short by the full disk
    await expect(journal.append(entry('s1'))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    await expect(journal.append(entry('s2'))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    const failures = logger.records.filter((e) => e.event === 'storage-failed');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ osCode: 'ENOSPC' });
    expect(health.snapshot()).toMatchObject({ ok: false, failure: { osCode: 'ENOSPC', failures: 2 } });
    fs.heal();
    await journal.append(entry('s1'));
    expect(health.ok).toBe(true);
    expect(logger.records.filter((e) => e.event === 'storage-recovered')).toHaveLength(1);
    const replay = await new RoundJournal(d).read(3);
    expect(replay.map((e) => e.sessionId)).toEqual(['s0', 's1']);
    expect(Buffer.from(replay[1]!.tensors.get('A')!.data.buffer).equals(payload)).toBe(true);
  });

  it('a flipped byte in a journal entry is detected on replay and reported, not replayed', async () => {
    const d = await dir();
    const warnings: string[] = [];
    const journal = new RoundJournal(d, { warn: (m) => warnings.push(m) });
    await journal.append(entry('s0'));
    const { file } = await journal.append(entry('s1'));
    const bytes = await readFile(file);
    bytes[bytes.length - 5]! ^= 0x10;
    await writeFile(file, bytes);
    expect((await journal.read(3)).map((e) => e.sessionId)).toEqual(['s0']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/s1\.safetensors \(its tensors do not match their SHA-256\)/);
  });

  it('discard removes an entry so it is not replayed', async () => {
    const d = await dir();
    const journal = new RoundJournal(d);
    const receipt = await journal.append(entry('s0'));
    await receipt.discard();
    expect(await new RoundJournal(d).read(3)).toEqual([]);
  });
});
