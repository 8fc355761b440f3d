/**
 * The run folder `runs/<id>/`: `scenario.yaml` (the resolved scenario, to reproduce the run),
 * `metrics.jsonl` (one validated JSON line per round, rewritten as rounds complete), and at the end
 * `summary.json`, `clients.json`, the SVG plots and `report.md`.
 *
 * Every file is written atomically (write to a temporary file, then rename), so a reader polling the folder
 * during a run — the dashboard, `tail`, a crashed run's post-mortem — never sees half a line or half a
 * summary. `metrics.jsonl` is rewritten whole each round for the same reason: an append is not atomic.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { z } from 'zod';
import writeFileAtomic from 'write-file-atomic';
import { stringify as toYaml } from 'yaml';
import { FedpeftError } from '../../shared/errors.ts';
import { formatZodError } from '../../shared/config/format-error.ts';
import type { Scenario } from '../scenario.ts';
import { clientsPlot, lossPlot, qualityPlot } from './plots.ts';
import {
  clientResultSchema,
  type ClientResult,
  roundMetricsSchema,
  runSummarySchema,
  type ClientResultInput,
  type RoundMetrics,
  type RoundMetricsInput,
  type RunSummary,
  type RunSummaryInput,
} from './run-records.ts';
import { buildRunReport, type RunPlotFiles } from './run-report.ts';
import type { BasePreparation } from './base-preparation.ts';
import { renderSvg } from './svg-render.ts';

export const RUN_FILES = {
  scenario: 'scenario.yaml',
  metrics: 'metrics.jsonl',
  summary: 'summary.json',
  clients: 'clients.json',
  report: 'report.md',
  qualityPlot: 'quality.svg',
  lossPlot: 'loss.svg',
  clientsPlot: 'clients.svg',
} as const;

export interface RunRecorderOptions {
  scenario: Scenario;
  /** Parent folder; default `scenario.output.dir`. */
  outputDir?: string;
  /** Folder name; default `scenario.output.runId`, else `<scenario name>-<UTC timestamp>`. */
  runId?: string;
  /** Clock for the default run id (tests pin it). */
  now?: () => Date;
}

export interface RunArtifacts {
  dir: string;
  summary: RunSummary;
  /** clients.json: each client's base / global / personal scores. */
  clients: ClientResult[];
  files: string[];
}

/** `20260101-120000Z`: sortable, and safe in a folder name on every OS. */
export function runTimestamp(d: Date): string {
  return d
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '')
    .replace('T', '-');
}

function validate<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new FedpeftError('INVALID_RECORD', `invalid ${what}:\n${formatZodError(r.error)}`);
  return r.data;
}

export class RunRecorder {
  readonly dir: string;
  readonly runId: string;
  readonly scenario: Scenario;
  private readonly rounds: RoundMetrics[] = [];
  private readonly listeners: ((m: RoundMetrics) => void)[] = [];

  private constructor(dir: string, runId: string, scenario: Scenario) {
    this.dir = dir;
    this.runId = runId;
    this.scenario = scenario;
  }

  /** Creates the folder (a fresh one: an existing id gets `-2`, `-3`, ...) and saves the scenario. */
  static async create(options: RunRecorderOptions): Promise<RunRecorder> {
    const { scenario } = options;
    const parent = resolve(options.outputDir ?? scenario.output.dir);
    const base =
      options.runId ??
      scenario.output.runId ??
      `${scenario.name}-${runTimestamp((options.now ?? (() => new Date()))())}`;
    let runId = base;
    for (let n = 2; existsSync(join(parent, runId)); n++) runId = `${base}-${n}`;
    const dir = join(parent, runId);
    mkdirSync(dir, { recursive: true });
    const recorder = new RunRecorder(dir, runId, scenario);
    // Saved without the run id, so `fedpeft simulate <dir>/scenario.yaml` makes a new folder, not a clash.
    const { runId: _omit, ...output } = scenario.output;
    await writeFileAtomic(join(dir, RUN_FILES.scenario), toYaml({ ...scenario, output }));
    await writeFileAtomic(join(dir, RUN_FILES.metrics), '');
    return recorder;
  }

  get metrics(): readonly RoundMetrics[] {
    return this.rounds;
  }

  /** Called after each recorded round (the live table, the dashboard). */
  onRound(listener: (m: RoundMetrics) => void): void {
    this.listeners.push(listener);
  }

  async recordRound(input: RoundMetricsInput): Promise<RoundMetrics> {
    const m = validate(roundMetricsSchema, input, `metrics of round ${String(input.round)}`);
    const previous = this.rounds[this.rounds.length - 1];
    if (previous && m.round <= previous.round)
      throw new FedpeftError('INVALID_RECORD', `round ${m.round} recorded after round ${previous.round}`);
    this.rounds.push(m);
    await writeFileAtomic(
      join(this.dir, RUN_FILES.metrics),
      this.rounds.map((r) => JSON.stringify(r)).join('\n') + '\n',
    );
    for (const l of this.listeners) l(m);
    return m;
  }

  /** Writes summary.json, clients.json, the plots (unless output.plots is off) and report.md. */
  async finish(input: {
    summary: RunSummaryInput;
    clients: readonly ClientResultInput[];
    /** The base as prepared before the run (named in the report's header). */
    base?: BasePreparation;
  }): Promise<RunArtifacts> {
    const summary = validate(runSummarySchema, { ...input.summary, run_id: this.runId }, 'run summary');
    const clients = input.clients.map((c, i) => validate(clientResultSchema, c, `client result ${i}`));
    const files: string[] = [];
    const write = async (name: string, content: string) => {
      await writeFileAtomic(join(this.dir, name), content);
      files.push(name);
    };
    await write(RUN_FILES.summary, `${JSON.stringify(summary, null, 2)}\n`);
    await write(RUN_FILES.clients, `${JSON.stringify(clients, null, 2)}\n`);
    const plots: RunPlotFiles = {};
    if (this.scenario.output.plots) {
      const base = summary.task === 'language-model' ? summary.base_ppl : summary.base_accuracy;
      await write(RUN_FILES.qualityPlot, await renderSvg(qualityPlot(summary.task, this.rounds, base)));
      plots.quality = RUN_FILES.qualityPlot;
      await write(RUN_FILES.lossPlot, await renderSvg(lossPlot(this.rounds)));
      plots.loss = RUN_FILES.lossPlot;
      if (clients.length > 0) {
        await write(RUN_FILES.clientsPlot, await renderSvg(clientsPlot(summary.task, clients)));
        plots.clients = RUN_FILES.clientsPlot;
      }
    }
    await write(
      RUN_FILES.report,
      buildRunReport({
        scenario: this.scenario,
        summary,
        rounds: this.rounds,
        clients,
        plots,
        ...(input.base ? { base: input.base } : {}),
      }),
    );
    return { dir: this.dir, summary, clients, files: [RUN_FILES.scenario, RUN_FILES.metrics, ...files] };
  }
}
