/**
 * A damaged newest checkpoint never silently resumes from wrong state, and never from round 0 while good
 * checkpoints exist: each kind of damage falls back to the newest good one with exactly one log line.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointStore } from './checkpoint-store.ts';

const state = {
  runId: 'r',
  seed: 3,
  method: 'pica',
  model: 'test-gpt',
  linkSchedule: null,
  sessions: [],
  signatureReference: null,
  rng: { seed: 3 },
};

/** A store holding rounds 1 and 2 (keep 3), and the lines it logged. */
async function twoRounds(): Promise<{ store: CheckpointStore; lines: string[]; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'fedpeft-ckpt-bad-'));
  const lines: string[] = [];
  const store = new CheckpointStore(dir, 3, { log: (l) => lines.push(l) });
  for (let round = 1; round <= 2; round++) {
    await store.save(
      { ...state, round },
      new Map([['B', { shape: [4], data: Float32Array.from([round, -round, 2 * round, 0.5]) }]]),
      { strategy: 'fedavg', tensors: new Map(), values: { t: round } },
    );
  }
  return { store, lines, dir };
}

const newest = (store: CheckpointStore, file: string) => join(store.dir, 'round-000002', file);

type Damage = [string, (store: CheckpointStore) => Promise<void>, RegExp];
const damages: Damage[] = [
  [
    'a flipped byte in the global tensors',
    async (store) => {
      const bytes = await readFile(newest(store, 'global.safetensors'));
      bytes[bytes.length - 3]! ^= 0x40;
      await writeFile(newest(store, 'global.safetensors'), bytes);
    },
    /round-000002 is damaged \(global\.safetensors does not match its SHA-256\)/,
  ],
  [
    'a truncated state file',
    (store) => truncate(newest(store, 'state.json'), 10),
    /round-000002 is damaged \(state\.json has 10 bytes/,
  ],
  [
    'a deleted strategy file',
    (store) => rm(newest(store, 'strategy-0.json')),
    /round-000002 is damaged \(strategy-0\.json is missing\)/,
  ],
  [
    'a missing manifest',
    (store) => rm(newest(store, 'manifest.json')),
    /round-000002 is damaged \(manifest\.json is missing\)/,
  ],
];

describe('CheckpointStore with damaged checkpoints', () => {
  it.each(damages)('%s falls back to the previous round with one log line', async (_name, damage, why) => {
    const { store, lines } = await twoRounds();
    await damage(store);
    const ck = (await store.loadLatest())!;
    expect(ck.state.round).toBe(1);
    expect(Array.from(ck.global.get('B')!.data)).toEqual([1, -1, 2, 0.5]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/resuming from round-000001 \(round 1\)/);
    expect(lines[0]).toMatch(why);
  });

  it('a deleted newest folder falls back to the previous one', async () => {
    const { store, lines } = await twoRounds();
    await rm(join(store.dir, 'round-000002'), { recursive: true });
    expect((await store.loadLatest())!.state.round).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/LATEST names round-000002/);
  });

  it.each([
    ['emptied', (p: string) => writeFile(p, '')],
    ['deleted', (p: string) => rm(p)],
    ['garbage', (p: string) => writeFile(p, '../../etc')],
  ])('an %s LATEST still resumes from the newest good folder, not round 0', async (_n, spoil) => {
    const { store, lines } = await twoRounds();
    await spoil(join(store.dir, 'LATEST'));
    expect((await store.loadLatest())!.state.round).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/LATEST is (missing|empty or damaged)/);
  });

  it('the undamaged case logs nothing', async () => {
    const { store, lines } = await twoRounds();
    expect((await store.loadLatest())!.state.round).toBe(2);
    expect(lines).toEqual([]);
  });

  it('every checkpoint damaged is an error, never a fresh start', async () => {
    const { store } = await twoRounds();
    for (const r of ['round-000001', 'round-000002']) await rm(join(store.dir, r, 'state.json'));
    await expect(store.loadLatest()).rejects.toMatchObject({ code: 'CHECKPOINT_UNREADABLE' });
  });

  it('removes the temporary folder of an interrupted save when it opens the run', async () => {
    const { store } = await twoRounds();
    const tmp = join(store.dir, '.round-000003.tmp-999');
    await mkdir(tmp);
    await writeFile(join(tmp, 'global.safetensors'), 'half');
    expect((await store.loadLatest())!.state.round).toBe(2);
    expect((await readdir(store.dir)).filter((e) => e.startsWith('.'))).toEqual([]);
  });
});
