import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RoundHistory } from './round-history.ts';
import { fakeRound } from './test-fixtures.ts';

describe('RoundHistory', () => {
  it('keeps one entry per round, in round order, and forgets the oldest beyond the limit', () => {
    const h = new RoundHistory(3);
    for (const r of [2, 1, 4, 3]) h.add(fakeRound(r));
    expect(h.list().map((r) => r.round)).toEqual([2, 3, 4]);
    h.add(fakeRound(3, { trainLoss: 42 }));
    expect(h.list().map((r) => [r.round, r.trainLoss])).toEqual([
      [2, fakeRound(2).trainLoss],
      [3, 42],
      [4, fakeRound(4).trainLoss],
    ]);
  });

  it('loads metrics.jsonl of a resumed run, skipping torn or foreign lines; live rounds win', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedpeft-dash-'));
    try {
      const path = join(dir, 'metrics.jsonl');
      const lines = [fakeRound(1), fakeRound(2), { round: 0 }, fakeRound(3)].map((r) => JSON.stringify(r));
      await writeFile(path, `${lines.join('\n')}\nnot json\n{"round": 4, "trainLo`);
      const h = new RoundHistory(100);
      h.add(fakeRound(2, { trainLoss: 99 }));
      expect(await h.loadMetricsFile(path)).toEqual({ loaded: 2, skipped: 3 });
      expect(h.list().map((r) => [r.round, r.trainLoss])).toEqual([
        [1, fakeRound(1).trainLoss],
        [2, 99],
        [3, fakeRound(3).trainLoss],
      ]);
      expect(await new RoundHistory(5).loadMetricsFile(join(dir, 'missing.jsonl'))).toEqual({
        loaded: 0,
        skipped: 0,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
