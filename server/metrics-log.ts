/** Per-round summaries appended to `<run dir>/metrics.jsonl` (one JSON object per line), and what they hold. */
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface RoundSummary {
  round: number;
  /** Clients sampled for the round. */
  sampled: number;
  /** Updates folded into the aggregate. */
  participants: number;
  /** Sampled clients that did not contribute (disconnected, past the deadline, rejected). */
  dropped: number;
  /** Whether the global state changed (false when fewer than `minUpdates` updates arrived). */
  aggregated: boolean;
  linkIndex: number;
  /** Means over the clients that reported them (null when none did). */
  trainLoss: number | null;
  globalValLoss: number | null;
  personalValLoss: number | null;
  bytesUp: number;
  bytesDown: number;
  roundMs: number;
  /** Strategy metrics (e.g. pseudo-gradient norm). */
  strategy: Record<string, number>;
}

export class MetricsLog {
  constructor(readonly path: string) {}
  async append(summary: RoundSummary): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await appendFile(this.path, `${JSON.stringify({ t: new Date().toISOString(), ...summary })}\n`);
  }
}

export function meanOf(values: ReadonlyArray<number | null>): number | null {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}
