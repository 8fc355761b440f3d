/**
 * Runs the selected suites one after another, each behind a guard (one failing suite must not cost the results
 * of the others, and the wasm glue's uncaughtException handler must never see an error), then merges and
 * writes the results.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '../../shared/tensor/tf.ts';
import { describeMachine } from './machine.ts';
import { mergeRun, readResults, writeResults, type SuiteOutcome } from './results-file.ts';
import type { BenchContext, BenchFile, BenchSuite } from './types.ts';

/** `bench/results/` of this checkout. */
export const DEFAULT_RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

const KEY = /^[a-z0-9][a-z0-9_.-]*$/;

export interface RunOptions {
  suites: BenchSuite[];
  quick: boolean;
  /** Where latest.json / latest.md live (default `bench/results/`). */
  outDir?: string;
  /** The default backend's description for the machine stamp. */
  backend: string;
  log?: (message: string) => void;
}

export interface RunReport {
  file: BenchFile;
  paths: { json: string; markdown: string };
  failures: { suite: string; error: string }[];
}

function contextFor(
  suite: BenchSuite,
  quick: boolean,
  results: SuiteOutcome['results'],
  log: (m: string) => void,
) {
  const ctx: BenchContext = {
    quick,
    record(key, value, unit) {
      if (!KEY.test(key)) throw new Error(`bench key '${key}' must be lower-case dotted words`);
      if (key in results) throw new Error(`bench key '${key}' recorded twice in one run`);
      if (!Number.isFinite(value))
        throw new Error(`bench key '${key}': value ${value} is not a finite number`);
      if (!unit) throw new Error(`bench key '${key}' needs a unit`);
      results[key] = { value, unit };
      log(`  ${key} = ${value.toPrecision(4)} ${unit}`);
    },
    log: (m) => log(`  ${m}`),
  };
  return ctx;
}

export async function runSuites(opts: RunOptions): Promise<RunReport> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const outDir = opts.outDir ?? DEFAULT_RESULTS_DIR;
  const jsonPath = path.join(outDir, 'latest.json');
  // Read first: a corrupt file should stop the run before minutes of measuring, not after.
  const previous = await readResults(jsonPath);
  const outcomes: SuiteOutcome[] = [];
  const failures: RunReport['failures'] = [];
  // Undefined when nothing has initialised a backend yet (then there is nothing to restore).
  const initialBackend = tf.engine().backendName as string | undefined;
  for (const suite of opts.suites) {
    log(`${suite.name}: ${suite.description}${opts.quick ? ' (quick)' : ''}`);
    const results: SuiteOutcome['results'] = {};
    const start = performance.now();
    const tensorsBefore = tf.memory().numTensors;
    try {
      await suite.run(contextFor(suite, opts.quick, results, log));
      outcomes.push({
        suite: suite.name,
        results,
        info: {
          date: new Date().toISOString(),
          quick: opts.quick,
          seconds: (performance.now() - start) / 1000,
        },
      });
      const leaked = tf.memory().numTensors - tensorsBefore;
      if (leaked !== 0) log(`  warning: suite ${suite.name} left ${leaked} tensor(s) behind`);
    } catch (err) {
      failures.push({ suite: suite.name, error: (err as Error).stack ?? String(err) });
      log(`  FAILED: ${(err as Error).message}`);
    } finally {
      // Suites switch backends freely; the next one starts where the run started.
      if (initialBackend && tf.engine().backendName !== initialBackend) await tf.setBackend(initialBackend);
    }
  }
  const file = mergeRun(previous, describeMachine(opts.backend), outcomes);
  const paths = await writeResults(outDir, file);
  return { file, paths, failures };
}
