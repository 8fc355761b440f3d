/**
 * The report a `fedpeft serve` run leaves in its run directory when it ends: `report.md` (what was run, the
 * totals, the per-round table, each with a one-line definition), `summary.json`, and the per-round plots
 * (`quality.svg`, `loss.svg`), in the formats `fedpeft simulate` uses (simulations/report/). Built from the
 * coordinator's own `metrics.jsonl`, which survives crashes and resumes, so a resumed run's report covers
 * every round. A coordinator does not score held-out data itself: its quality figures are the means its
 * clients report (global and personal validation losses), and it says so.
 */
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { RoundHistory, type DashboardRound } from '../../server/dashboard/round-history.ts';
import { formatBytes, formatSeconds, formatValue, markdownTable } from '../../simulations/report/format.ts';
import { lossPlot, qualityPlot } from '../../simulations/report/plots.ts';
import type { RoundMetrics } from '../../simulations/report/run-records.ts';
import { RUN_FILES } from '../../simulations/report/run-recorder.ts';
import { renderSvg } from '../../simulations/report/svg-render.ts';

export interface ServeReportInput {
  runDir: string;
  runId: string;
  model: string;
  method: string;
  methodConfig: Record<string, unknown>;
  /** One line about the base (checkpoint and fingerprint), or null for the seeded initialisation. */
  base: string | null;
  totalRounds: number;
  seed: number;
  startedAt: Date;
  /** How the run ended: 'finished' (all rounds) or 'stopped' (a signal, a budget). */
  outcome: 'finished' | 'stopped';
}

const ppl = (loss: number | null) => (loss === null ? null : Math.exp(loss));

/** A coordinator round (metrics.jsonl) in the simulator's record shape, which the plots read. */
export function roundMetricsOf(r: DashboardRound): RoundMetrics {
  const eps = r.strategy.dpEpsilon;
  const delta = r.strategy.dpDelta;
  return {
    round: r.round,
    participants: r.sampled,
    completed: r.participants,
    dropped: r.dropped,
    dropped_clients: [],
    train_loss: r.trainLoss,
    global_val_loss: r.globalValLoss,
    global_val_ppl: ppl(r.globalValLoss),
    global_val_accuracy: null,
    personal_val_loss: r.personalValLoss,
    personal_val_ppl: ppl(r.personalValLoss),
    personal_val_accuracy: null,
    bytes_up: r.bytesUp,
    bytes_down: r.bytesDown,
    round_s: r.roundMs / 1000,
    simulated_round_s: null,
    epsilon: typeof eps === 'number' ? eps : null,
    delta: typeof delta === 'number' && delta > 0 ? delta : null,
  };
}

/** Writes report.md, summary.json and the plots; returns the report's path. */
export async function writeServeReport(input: ServeReportInput): Promise<string> {
  const history = new RoundHistory(Number.MAX_SAFE_INTEGER);
  await history.loadMetricsFile(join(input.runDir, 'metrics.jsonl'));
  const rounds = history.list().map(roundMetricsOf);
  const last = rounds.at(-1);
  const bytesUp = rounds.reduce((s, r) => s + r.bytes_up, 0);
  const bytesDown = rounds.reduce((s, r) => s + r.bytes_down, 0);
  const finishedAt = new Date();
  const summary = {
    format: 'fedpeft-serve-summary',
    run_id: input.runId,
    outcome: input.outcome,
    model: input.model,
    method: input.method,
    method_config: input.methodConfig,
    base: input.base,
    seed: input.seed,
    rounds: rounds.length,
    planned_rounds: input.totalRounds,
    final_global_ppl: last?.global_val_ppl ?? null,
    final_personal_ppl: last?.personal_val_ppl ?? null,
    bytes_up: bytesUp,
    bytes_down: bytesDown,
    rounds_s: rounds.reduce((s, r) => s + r.round_s, 0),
    epsilon: [...rounds].reverse().find((r) => r.epsilon !== null)?.epsilon ?? null,
    started_at: input.startedAt.toISOString(),
    finished_at: finishedAt.toISOString(),
  };
  await writeFileAtomic(join(input.runDir, RUN_FILES.summary), `${JSON.stringify(summary, null, 2)}\n`);
  const plots: string[] = [];
  if (rounds.length > 0) {
    await writeFileAtomic(
      join(input.runDir, RUN_FILES.qualityPlot),
      await renderSvg(qualityPlot('language-model', rounds, null)),
    );
    await writeFileAtomic(join(input.runDir, RUN_FILES.lossPlot), await renderSvg(lossPlot(rounds)));
    plots.push(
      `![Perplexity per round](${RUN_FILES.qualityPlot})`,
      `![Loss per round](${RUN_FILES.lossPlot})`,
    );
  }
  const dp = rounds.some((r) => r.epsilon !== null);
  const table = markdownTable(
    [
      'round',
      'aggregated / sampled',
      'dropped',
      'train loss',
      'global ppl',
      'personal ppl',
      'up',
      'down',
      'time',
      ...(dp ? ['ε'] : []),
    ],
    rounds.map((r) => [
      String(r.round),
      `${r.completed} / ${r.participants}`,
      String(r.dropped),
      formatValue(r.train_loss),
      formatValue(r.global_val_ppl),
      formatValue(r.personal_val_ppl),
      formatBytes(r.bytes_up),
      formatBytes(r.bytes_down),
      formatSeconds(r.round_s),
      ...(dp ? [formatValue(r.epsilon)] : []),
    ]),
  );
  const md = [
    `# fedpeft coordinator run \`${input.runId}\``,
    `${input.outcome === 'finished' ? 'Finished' : 'Stopped'} after ${rounds.length} of ${input.totalRounds} ` +
      `rounds; started ${summary.started_at}, report written ${summary.finished_at}.`,
    '## What was run',
    [
      `- **Model**: \`${input.model}\`, base ${input.base ?? `the seeded initialisation (seed ${input.seed})`}`,
      `- **Method**: \`${input.method}\` \`${JSON.stringify(input.methodConfig)}\``,
      `- **Files**: metrics.jsonl (one line per round, the coordinator's), checkpoints/, summary.json`,
    ].join('\n'),
    '## Results',
    markdownTable(
      ['metric', 'value'],
      [
        ['global validation perplexity, last round', formatValue(summary.final_global_ppl)],
        ['personal validation perplexity, last round', formatValue(summary.final_personal_ppl)],
        ['bytes sent by clients (up)', formatBytes(bytesUp)],
        ['bytes received by clients (down)', formatBytes(bytesDown)],
        ['time in rounds', formatSeconds(summary.rounds_s)],
      ],
    ),
    "_Perplexities are exp of the mean validation loss the round's clients reported on their own held-out " +
      'data (the coordinator scores nothing itself): global for the aggregated adapter they received, personal ' +
      'for their own adapter after local training — a different set of clients each round. Bytes are protocol ' +
      'payloads, in 1024-based units (KiB, MiB) as on the dashboard._',
    '## Rounds',
    rounds.length > 0 ? table : '_No round completed._',
    '_aggregated / sampled: updates folded into the global adapter / clients sent the round; dropped: sampled ' +
      "clients that did not contribute; time: wall-clock from the round's start to its aggregation._",
    ...(plots.length > 0 ? ['## Plots', ...plots] : []),
  ].join('\n\n');
  const path = join(input.runDir, RUN_FILES.report);
  await writeFileAtomic(path, `${md}\n`);
  return path;
}
