/**
 * `fedpeft simulate` minus the federation itself: for one scenario (or one per method in comparison mode) it
 * creates the run folder, prints the live per-round table, hands the scenario to a `FleetRunner` — the part
 * that starts a coordinator and client workers over sockets or in-process — and writes the reports. The runner
 * reports each round through the recorder and returns the summary and per-client results.
 */
import { join } from 'node:path';
import type { Scenario } from './scenario.ts';
import { scenarioForMethod } from './scenario.ts';
import { compareReport } from './report/compare-report.ts';
import { LiveRoundTable } from './report/live-table.ts';
import type { BasePreparation, PreparedBase } from './report/base-preparation.ts';
import type {
  ClientResult,
  ClientResultInput,
  RoundMetrics,
  RunSummaryInput,
  Task,
} from './report/run-records.ts';
import { RunRecorder, runTimestamp, type RunArtifacts } from './report/run-recorder.ts';

export interface FleetRunOptions {
  /** The scenario of this run (in comparison mode: with `method` set to the method of this run). */
  scenario: Scenario;
  /** Record every round here (`recordRound`); it writes metrics.jsonl and feeds the live table. */
  recorder: RunRecorder;
  /** Progress lines that are not rounds (pretraining the base, clients joining). */
  log: (line: string) => void;
  signal?: AbortSignal;
}

export interface FleetRunResult {
  /** Everything but `run_id`, which the recorder owns. */
  summary: Omit<RunSummaryInput, 'run_id'>;
  clients: ClientResultInput[];
}

/** Runs one scenario's federation end to end. Implemented by the fleet runner over server/ and client/. */
export interface FleetRunner {
  run(options: FleetRunOptions): Promise<FleetRunResult>;
}

/** Follows the runs as they happen (the live dashboard, simulations/dashboard/run-dashboard.ts). */
export interface SimulationObserver {
  showRun(run: { runId: string; method: string; model: string; totalRounds: number }): void;
  round(metrics: RoundMetrics): void;
  runFinished(task: Task, clients: readonly ClientResult[]): void;
  allFinished(): void;
}

export interface SimulateOptions {
  /**
   * Prepares the scenario's base before the first run (the CLI passes the cache lookup with its progress bar),
   * so a first-use pretraining is timed and reported on its own, never inside the first method's wall time.
   */
  prepareBase?: (scenario: Scenario, signal?: AbortSignal) => Promise<PreparedBase>;
  /** Told of every run, round and result as they happen (the live dashboard). */
  observer?: SimulationObserver;
  /** Where the live table and progress lines go. Default: stdout. */
  write?: (text: string) => void;
  signal?: AbortSignal;
  /** Clock for run ids (tests pin it). */
  now?: () => Date;
}

export interface SimulateResult {
  runs: RunArtifacts[];
  /** The comparison report's folder, in comparison mode. */
  comparisonDir?: string;
  /** The file to point the user at: report.md of a single run, comparison.md of a comparison. */
  reportPath: string;
}

export function taskOf(scenario: Scenario): Task {
  return scenario.model.name.startsWith('mlp') ? 'classification' : 'language-model';
}

export async function simulate(
  runner: FleetRunner,
  scenario: Scenario,
  options: SimulateOptions = {},
): Promise<SimulateResult> {
  const write = options.write ?? ((t: string) => process.stdout.write(t));
  const methods = scenario.compare.methods.length > 0 ? scenario.compare.methods : [scenario.method.name];
  const comparing = scenario.compare.methods.length > 0;
  const stamp = options.now?.() ?? new Date();
  const groupId = scenario.output.runId ?? `${scenario.name}-${runTimestamp(stamp)}`;
  const runs: RunArtifacts[] = [];
  let base: BasePreparation | undefined;
  if (options.prepareBase) {
    const started = performance.now();
    const prepared = await options.prepareBase(scenario, options.signal);
    base = { ...prepared, seconds: (performance.now() - started) / 1000 };
    write(
      `base: ${prepared.description} — ${prepared.pretrainedNow ? 'pretrained' : 'read from the cache'} ` +
        `in ${base.seconds.toFixed(1)} s (not counted in any run's time)\n`,
    );
  }
  for (const method of methods) {
    const runScenario = comparing ? scenarioForMethod(scenario, method) : scenario;
    const recorder = await RunRecorder.create({
      scenario: runScenario,
      now: () => stamp,
      ...(comparing ? { runId: `${groupId}-${method}` } : {}),
    });
    write(`\n${comparing ? `[${method}] ` : ''}run ${recorder.runId}: ${recorder.dir}\n`);
    const table = new LiveRoundTable(taskOf(runScenario), write, {
      dp: runScenario.privacy.dp !== undefined,
    });
    recorder.onRound((m) => table.print(m));
    options.observer?.showRun({
      runId: recorder.runId,
      method: runScenario.method.name,
      model: runScenario.model.name,
      totalRounds: runScenario.training.rounds,
    });
    const observer = options.observer;
    if (observer) recorder.onRound((m) => observer.round(m));
    const result = await runner.run({
      scenario: runScenario,
      recorder,
      log: (line) => write(`${line}\n`),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const artifacts = await recorder.finish({
      summary: { ...result.summary, run_id: recorder.runId },
      clients: result.clients,
      ...(base ? { base } : {}),
    });
    runs.push(artifacts);
    options.observer?.runFinished(artifacts.summary.task, artifacts.clients);
  }
  options.observer?.allFinished();
  if (!comparing) {
    const reportPath = join((runs[0] as RunArtifacts).dir, 'report.md');
    write(`\nreport: ${reportPath}\n`);
    return { runs, reportPath };
  }
  const compareDir = join(scenario.output.dir, `${groupId}-comparison`);
  const { dir } = await compareReport(
    runs.map((r) => ({ dir: r.dir, summary: r.summary })),
    compareDir,
    { plots: scenario.output.plots, ...(base ? { base } : {}) },
  );
  const reportPath = join(dir, 'comparison.md');
  write(`\ncomparison report: ${reportPath}\n`);
  return { runs, comparisonDir: dir, reportPath };
}
