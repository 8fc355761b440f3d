/**
 * Timing for benchmarks: warm up (by count and by time, so wasm code is compiled by V8's optimizing tier and
 * XNNPACK's buffers exist before the clock starts), then the median of several repetitions, which shrugs off
 * the odd slow rep on a shared machine where a mean would not.
 */

export interface TimingOptions {
  /** Warm-up calls, at least (default 2). */
  warmup?: number;
  /** Keep warming up until this much time has passed (default 200 ms). */
  warmupMs?: number;
  /** Timed repetitions; the median is reported (default 7). */
  reps?: number;
}

export interface Timing {
  medianMs: number;
  minMs: number;
  samplesMs: number[];
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of no samples');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function summarize(samples: number[]): Timing {
  return { medianMs: median(samples), minMs: Math.min(...samples), samplesMs: samples };
}

function warmUp(fns: (() => void)[], opts: TimingOptions): void {
  const minCalls = opts.warmup ?? 2;
  const minMs = opts.warmupMs ?? 200;
  const start = performance.now();
  for (let i = 0; i < minCalls || performance.now() - start < minMs; i++) for (const f of fns) f();
}

/** Median wall time of a synchronous `fn` (which must finish its work, e.g. dispose what it creates). */
export function measure(fn: () => void, opts: TimingOptions = {}): Timing {
  warmUp([fn], opts);
  const samples: number[] = [];
  for (let i = 0; i < (opts.reps ?? 7); i++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  return summarize(samples);
}

/**
 * Time several functions in alternation (a, b, a, b, ...) so that load from other processes hits them alike:
 * the right way to take the two sides of a ratio on a noisy machine.
 */
export function measureInterleaved<K extends string>(
  fns: Record<K, () => void>,
  opts: TimingOptions = {},
): Record<K, Timing> {
  const keys = Object.keys(fns) as K[];
  warmUp(
    keys.map((k) => fns[k]),
    opts,
  );
  const samples = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (let i = 0; i < (opts.reps ?? 7); i++) {
    for (const k of keys) {
      const t0 = performance.now();
      fns[k]();
      samples[k].push(performance.now() - t0);
    }
  }
  return Object.fromEntries(keys.map((k) => [k, summarize(samples[k])])) as Record<K, Timing>;
}

/** GFLOP/s for `flops` floating-point operations done in `ms` milliseconds. */
export function gflops(flops: number, ms: number): number {
  return flops / (ms * 1e6);
}
