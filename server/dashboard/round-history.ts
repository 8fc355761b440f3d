/**
 * The rounds a dashboard shows when it is opened: every round summary seen since the coordinator started,
 * plus those already in the run's `metrics.jsonl` (a resumed run), keyed by round number so a round that is
 * both on disk and announced live appears once. Bounded: the oldest rounds are forgotten first.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { RoundSummary } from '../metrics-log.ts';

/** A round summary as `metrics.jsonl` stores it: with the time it closed (ISO 8601). */
export type DashboardRound = RoundSummary & { t: string };

// Lines written by older versions may lack fields; only what the page cannot do without is required.
const storedRoundSchema = z
  .object({
    round: z.int().min(1),
    t: z.string().default(''),
    sampled: z.number().default(0),
    participants: z.number().default(0),
    dropped: z.number().default(0),
    aggregated: z.boolean().default(true),
    linkIndex: z.number().default(0),
    trainLoss: z.number().nullable().default(null),
    globalValLoss: z.number().nullable().default(null),
    personalValLoss: z.number().nullable().default(null),
    bytesUp: z.number().default(0),
    bytesDown: z.number().default(0),
    roundMs: z.number().default(0),
    strategy: z.record(z.string(), z.number()).default({}),
  })
  .loose();

export class RoundHistory {
  private readonly rounds = new Map<number, DashboardRound>();

  constructor(private readonly limit: number) {}

  add(round: DashboardRound): void {
    this.rounds.delete(round.round);
    this.rounds.set(round.round, round);
    if (this.rounds.size > this.limit) {
      const oldest = Math.min(...this.rounds.keys());
      this.rounds.delete(oldest);
    }
  }

  /** Forgets every round (a new run shown on the same page, e.g. the next method of a comparison). */
  clear(): void {
    this.rounds.clear();
  }

  /** Rounds in order of their number. */
  list(): DashboardRound[] {
    return [...this.rounds.values()].sort((a, b) => a.round - b.round);
  }

  get size(): number {
    return this.rounds.size;
  }

  /**
   * Adds the rounds of a `metrics.jsonl`; rounds already known (announced live meanwhile) win. Returns how
   * many lines were unreadable (a torn last line after a crash is the usual one). A missing file is no error.
   */
  async loadMetricsFile(path: string): Promise<{ loaded: number; skipped: number }> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { loaded: 0, skipped: 0 };
      throw err;
    }
    let loaded = 0;
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        skipped++;
        continue;
      }
      const round = storedRoundSchema.safeParse(parsed);
      if (!round.success) {
        skipped++;
        continue;
      }
      if (!this.rounds.has(round.data.round)) {
        this.add(round.data);
        loaded++;
      }
    }
    return { loaded, skipped };
  }
}
