/** Round summaries for dashboard tests: plausible, distinct per round, and easy to override. */
import type { DashboardRound } from './round-history.ts';

export function fakeRound(round: number, over: Partial<DashboardRound> = {}): DashboardRound {
  return {
    t: new Date(1_700_000_000_000 + round * 1000).toISOString(),
    round,
    sampled: 3,
    participants: 3,
    dropped: 0,
    aggregated: true,
    linkIndex: 0,
    trainLoss: 3 - round * 0.1,
    globalValLoss: 3.2 - round * 0.1,
    personalValLoss: 3.1 - round * 0.12,
    bytesUp: 1000 * round,
    bytesDown: 2000 * round,
    roundMs: 500 + round,
    strategy: {},
    ...over,
  };
}
