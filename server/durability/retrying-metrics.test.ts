/** A metrics line that cannot be appended is retried until the disk takes it, not dropped and not fatal. */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { MemoryLogger } from '../logger.ts';
import { MetricsLog } from '../metrics-log.ts';
import { retryingMetrics } from './retrying-metrics.ts';
import { StorageHealth } from './storage-health.ts';

it('retries an append that fails (a folder where metrics.jsonl should be) until it can be written', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fedpeft-metrics-'));
  const path = join(dir, 'metrics.jsonl');
  await mkdir(path); // appending to a folder fails with EISDIR until it is removed
  const logger = new MemoryLogger();
  const health = new StorageHealth(logger);
  const metrics = retryingMetrics(new MetricsLog(path), health, () => false);
  const summary = {
    round: 4,
    sampled: 3,
    participants: 3,
    dropped: 0,
    aggregated: true,
    linkIndex: 0,
    trainLoss: 1,
    globalValLoss: null,
    personalValLoss: null,
    bytesUp: 1,
    bytesDown: 1,
    roundMs: 1,
    strategy: {},
  };
  const appended = metrics.append(summary);
  while (health.ok) await new Promise((r) => setTimeout(r, 10));
  expect(health.snapshot().failure).toMatchObject({ osCode: 'EISDIR' });
  await rm(path, { recursive: true });
  await appended;
  expect(health.ok).toBe(true);
  const line = JSON.parse((await readFile(path, 'utf8')).trim()) as { round: number };
  expect(line.round).toBe(4);
  expect(logger.records.map((r) => r.event)).toEqual(['storage-failed', 'storage-recovered']);
});
