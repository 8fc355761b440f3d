/**
 * The CLI's progress bar (stderr) and its ETA text. cli-progress's own time format rounds the seconds field
 * to a multiple of 5 after splitting off the minutes, so 4 min 58 s reads "4m60s"; `formatEta` rounds the
 * whole duration first and only then splits it, so no field ever reaches 60.
 */
import cliProgress from 'cli-progress';

/** Shown while no estimate exists yet (no progress, or a rate of zero). */
export const UNKNOWN_ETA = '--';

/**
 * Seconds as `7s`, `45s`, `4m05s` or `2h03m`: under a minute to the second, under an hour to 5 s, above to the
 * minute (an ETA is an estimate; finer digits would only flicker). Anything that is not a finite, non-negative
 * number of seconds (cli-progress passes "NULL" and "INF" before it has a rate) reads `--`.
 */
export function formatEta(seconds: unknown): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return UNKNOWN_ETA;
  if (seconds < 59.5) return `${Math.round(seconds)}s`;
  const byFive = 5 * Math.round(seconds / 5);
  if (byFive < 3600) {
    return `${Math.floor(byFive / 60)}m${String(byFive % 60).padStart(2, '0')}s`;
  }
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

export interface ProgressBar {
  bar: cliProgress.SingleBar;
  /** A line printed above the bar (or plainly when stderr is not a terminal). */
  log(line: string): void;
  stop(): void;
}

/**
 * A bar of 1000 steps on stderr; `{eta_formatted}` in `format` is `formatEta` of cli-progress's estimate.
 */
export function progressBar(format: string): ProgressBar {
  const multi = new cliProgress.MultiBar(
    {
      format,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 5,
      formatTime: (t: unknown) => formatEta(t),
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = multi.create(1000, 0);
  return {
    bar,
    log: (line) => (process.stderr.isTTY ? multi.log(`${line}\n`) : process.stderr.write(`${line}\n`)),
    stop: () => multi.stop(),
  };
}
