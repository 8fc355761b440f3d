/**
 * Comparison mode's report: one table and one plot (final quality vs bytes sent vs wall-clock time) over runs
 * of the same scenario with different methods, written as `comparison.md`, `comparison.svg` and
 * `comparison.json` in `outDir`. Runs can come straight from the recorder or be read back from their folders.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { FedpeftError } from '../../shared/errors.ts';
import { formatZodError } from '../../shared/config/format-error.ts';
import { comparisonPlot } from './plots.ts';
import { roundMetricsSchema, runSummarySchema, type RoundMetrics, type RunSummary } from './run-records.ts';
import { RUN_FILES } from './run-recorder.ts';
import { formatBytes, formatGain, formatCount, formatSeconds, formatValue, markdownTable } from './format.ts';
import { renderSvg } from './svg-render.ts';
import { baseHeaderLine, type BasePreparation } from './base-preparation.ts';

export interface ComparedRun {
  /** The run folder (linked from the table). */
  dir: string;
  summary: RunSummary;
}

export const COMPARISON_FILES = {
  report: 'comparison.md',
  plot: 'comparison.svg',
  data: 'comparison.json',
} as const;

/** Reads and validates a finished run folder's summary and metrics. */
export function readRunFolder(dir: string): ComparedRun & { rounds: RoundMetrics[] } {
  const read = (name: string): string => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch {
      throw new FedpeftError('INVALID_RUN', `${dir} has no ${name}: is it a finished fedpeft run folder?`);
    }
  };
  const parsed = runSummarySchema.safeParse(JSON.parse(read(RUN_FILES.summary)));
  if (!parsed.success)
    throw new FedpeftError(
      'INVALID_RUN',
      `invalid ${join(dir, RUN_FILES.summary)}:\n${formatZodError(parsed.error)}`,
    );
  const rounds = read(RUN_FILES.metrics)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => roundMetricsSchema.parse(JSON.parse(l)));
  return { dir, summary: parsed.data, rounds };
}

function comparisonTable(runs: readonly ComparedRun[], outDir: string): string {
  const lm = (runs[0]?.summary.task ?? 'language-model') === 'language-model';
  const q = lm ? 'ppl' : 'acc';
  const rows = runs.map(({ dir, summary: s }) => {
    const [base, global, personal] = lm
      ? [s.base_ppl, s.final_global_ppl, s.final_personal_ppl]
      : [s.base_accuracy, s.final_global_accuracy, s.final_personal_accuracy];
    return [
      `[${s.method}](${relative(outDir, join(dir, RUN_FILES.report)) || RUN_FILES.report})`,
      formatCount(s.trainable_params),
      s.links === null ? '—' : String(s.links),
      formatValue(global),
      formatGain(s.task, base, global),
      formatValue(personal),
      formatBytes(s.bytes_up),
      formatBytes(s.bytes_down),
      formatSeconds(s.wall_s),
      ...(s.epsilon !== null ? [formatValue(s.epsilon, 2)] : []),
    ];
  });
  const dp = runs.some((r) => r.summary.epsilon !== null);
  return markdownTable(
    [
      'method',
      'trainable params',
      'links',
      `global ${q}`,
      'vs base',
      `personal ${q}`,
      'bytes up',
      'bytes down',
      'wall time',
      ...(dp ? ['ε'] : []),
    ],
    rows,
  );
}

const TABLE_NOTE =
  "_global: the final global adapter, pooled over every client's held-out documents; vs base: its change " +
  "against the base (perplexity: relative %; accuracy: percentage points); personal: each client's own " +
  'adapter, scored the last round it took part in, pooled; bytes: protocol payloads on the wire, whole run; ' +
  'wall time: the federated rounds and their evaluation on this machine, base preparation excluded._';

/** Writes the comparison report; throws when the runs are not comparable (different scenarios or tasks). */
export async function compareReport(
  runs: readonly ComparedRun[],
  outDir: string,
  options: { title?: string; plots?: boolean; base?: BasePreparation } = {},
): Promise<{ dir: string; files: string[] }> {
  if (runs.length === 0) throw new FedpeftError('NOTHING_TO_COMPARE', 'compareReport needs at least one run');
  const tasks = new Set(runs.map((r) => r.summary.task));
  if (tasks.size > 1)
    throw new FedpeftError(
      'NOT_COMPARABLE',
      'cannot compare language-model runs with classification runs in one report',
    );
  const dir = resolve(outDir);
  mkdirSync(dir, { recursive: true });
  const first = (runs[0] as ComparedRun).summary;
  const scenarios = [...new Set(runs.map((r) => r.summary.scenario))];
  const files: string[] = [];
  const sections = [
    `# ${options.title ?? `Method comparison: ${scenarios.join(', ')}`}`,
    `${runs.length} runs of scenario${scenarios.length > 1 ? 's' : ''} \`${scenarios.join('`, `')}\` ` +
      `(${first.clients} clients, ${first.rounds} rounds, seed ${first.seed}), one per method.` +
      (scenarios.length === 1
        ? ' Every run saw the same data, clients and seed; only the adapter method differs.'
        : ''),
    ...(options.base ? [baseHeaderLine(options.base, true)] : []),
    '## Results',
    comparisonTable(runs, dir),
    TABLE_NOTE,
  ];
  if (options.plots ?? true) {
    await writeFileAtomic(
      join(dir, COMPARISON_FILES.plot),
      await renderSvg(
        comparisonPlot(
          runs.map((r) => r.summary),
          undefined,
          options.base?.seconds,
        ),
      ),
    );
    files.push(COMPARISON_FILES.plot);
    sections.push(
      '## Quality vs bytes sent vs time',
      `![Quality vs bytes sent vs time](${COMPARISON_FILES.plot})`,
    );
  }
  sections.push(
    '## How to read it',
    'Each point is one method: further left used less bandwidth (or time), lower is better for perplexity ' +
      '(higher for accuracy). A method dominates another when it is both better and cheaper. Bytes count both ' +
      'directions for the whole run; time is wall-clock on this machine. Each method links to its own run report.',
  );
  await writeFileAtomic(join(dir, COMPARISON_FILES.report), `${sections.join('\n\n')}\n`);
  await writeFileAtomic(
    join(dir, COMPARISON_FILES.data),
    `${JSON.stringify(
      runs.map((r) => ({ dir: relative(dir, r.dir), ...r.summary })),
      null,
      2,
    )}\n`,
  );
  files.push(COMPARISON_FILES.report, COMPARISON_FILES.data);
  return { dir, files };
}
