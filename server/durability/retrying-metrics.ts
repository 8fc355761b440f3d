/**
 * `metrics.jsonl` on a failing disk: a round's line is appended after its checkpoint, so a full disk there
 * must neither lose the line nor stop the run (an exception would leave the next round unscheduled). The
 * append is retried with backoff through the run's StorageHealth, like the checkpoint before it.
 */
import type { MetricsLog, RoundSummary } from '../metrics-log.ts';
import { asStorageWrite } from './durable-fs.ts';
import { retryStorage, type StorageHealth } from './storage-health.ts';

export function retryingMetrics(log: MetricsLog, health: StorageHealth, stopped: () => boolean): MetricsLog {
  return {
    path: log.path,
    append: (summary: RoundSummary) =>
      retryStorage(health, log.path, () => asStorageWrite('append to', log.path, () => log.append(summary)), {
        stopped,
      }),
  } satisfies Pick<MetricsLog, 'path' | 'append'>;
}
