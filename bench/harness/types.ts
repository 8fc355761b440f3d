/**
 * The contract between the benchmark runner and its suites. A suite is a small object registered once
 * (`bench/suites/index.ts`); it measures and records named results through the context, and never writes files
 * itself, so every suite gets the same merge, machine stamp and atomic output for free.
 */

export interface BenchSuite {
  /** Unique, lower-case (`matmul`, `step`); what `--only` takes. */
  readonly name: string;
  /** One line for `fedpeft bench --list`. */
  readonly description: string;
  /**
   * Absent: the suite runs on a plain `npm run bench`. Present: it is slow or needs something special, and runs
   * only with `--<flag>` (several suites may share a flag) or when named in `--only`.
   */
  readonly optIn?: { readonly flag: string; readonly description: string };
  run(ctx: BenchContext): Promise<void>;
}

export interface BenchContext {
  /** `--quick`: smaller sizes and fewer repetitions, for a smoke run; keys stay the same. */
  readonly quick: boolean;
  /**
   * Record one measured number under a dotted key (`matmul.wasm.512.gflops`). Keys are unique within a run;
   * values must be finite. A ratio is recorded only from measurements taken in this same run.
   */
  record(key: string, value: number, unit: string): void;
  /** A progress line for the person watching (stderr). */
  log(message: string): void;
}

/** One stored number; `suite` says which suite owns it, so re-running that suite replaces exactly its keys. */
export interface BenchResult {
  value: number;
  unit: string;
  suite: string;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  tfjs: string;
  /** The backend fedpeft selects by default here (suites may also measure others explicitly). */
  backend: string;
  date: string;
}

/** When and how each suite last ran (results of different runs are merged into one file). */
export interface SuiteRunInfo {
  date: string;
  quick: boolean;
  seconds: number;
}

/** The shape of `bench/results/latest.json`. */
export interface BenchFile {
  machine: MachineInfo;
  results: Record<string, BenchResult>;
  suites: Record<string, SuiteRunInfo>;
}
