/**
 * `report.md` of one run: what was run (enough to reproduce it), the headline results, the per-round table,
 * the plots, the per-client before/after table and a short guide to reading it. Pure: records in, markdown
 * out; the recorder writes it.
 */
import type { Scenario } from '../scenario.ts';
import { baseHeaderLine, type BasePreparation } from './base-preparation.ts';
import type { ClientResult, RoundMetrics, RunSummary } from './run-records.ts';
import { formatBytes, formatGain, formatCount, formatSeconds, formatValue, markdownTable } from './format.ts';

export interface RunPlotFiles {
  quality?: string;
  loss?: string;
  clients?: string;
}

export interface RunReportInput {
  scenario: Scenario;
  summary: RunSummary;
  rounds: readonly RoundMetrics[];
  clients: readonly ClientResult[];
  plots: RunPlotFiles;
  /** The base as prepared before the run, when the caller prepared it separately. */
  base?: BasePreparation;
}

function partitionText(s: Scenario): string {
  const p = s.data.partition;
  switch (p.kind) {
    case 'natural':
      return `natural, one client per \`${p.by}\`${p.maxClients ? ` (the ${p.maxClients} largest)` : ''}`;
    case 'iid':
      return `IID over ${p.clients} clients`;
    case 'dirichlet':
      return `Dirichlet label skew over ${p.clients} clients (alpha ${p.alpha})`;
    case 'quantity':
      return `quantity skew over ${p.clients} clients (${p.distribution})`;
  }
}

function privacyText(s: Scenario): string {
  const parts: string[] = [];
  const dp = s.privacy.dp;
  if (dp)
    parts.push(
      `DP (${dp.placement}): clip ${dp.adaptiveClipping ? `adaptive from ${dp.clipNorm}` : dp.clipNorm}, ` +
        `noise multiplier ${dp.noiseMultiplier}, δ ${dp.targetDelta}` +
        (dp.epsilonBudget ? `, ε budget ${dp.epsilonBudget}` : ''),
    );
  if (s.privacy.secureAggregation)
    parts.push(`secure aggregation (threshold ${s.privacy.secureAggregation.threshold ?? 'majority'})`);
  return parts.length ? parts.join('; ') : 'off';
}

function devicesText(s: Scenario): string {
  return s.devices.classes
    .map(
      (c) =>
        `${c.name} (share ${c.share}, speed ${c.speed}x, online ${c.availability}, dropout ${c.dropout}, ` +
        `${c.upMbps}/${c.downMbps} Mbit/s` +
        (c.rank !== undefined ? `, rank ${c.rank}` : '') +
        (c.memoryFraction !== undefined ? `, memory ${c.memoryFraction} of dense` : '') +
        (c.memoryMb !== undefined ? `, memory ${c.memoryMb} MiB` : '') +
        ')',
    )
    .join('; ');
}

function whatWasRun(s: Scenario, summary: RunSummary): string {
  const config = Object.keys(s.method.config).length
    ? ` \`${JSON.stringify(s.method.config)}\``
    : ' (defaults)';
  const sampling = s.strategy.sampling;
  const lines = [
    `- **Data**: \`${s.data.dataset}\`, ${partitionText(s)}; ${summary.clients} clients in the federation`,
    `- **Model**: \`${s.model.name}\`, base ${s.base.source === 'pretrained' ? `pretrained on \`${s.base.corpus}\`` : s.base.source === 'hf' ? `the Hugging Face folder \`${s.base.dir}\`` : 'randomly initialised'}`,
    `- **Method**: \`${summary.method}\`${config}; ${formatCount(summary.trainable_params)} trainable parameters per client` +
      (summary.shared_params !== null ? `, ${formatCount(summary.shared_params)} sent per round` : ''),
    `- **Strategy**: \`${summary.strategy}\`, sampling ${sampling.fraction} of the clients per round (at least ${sampling.minClients})`,
    `- **Training**: ${s.training.rounds} rounds x ${s.training.localSteps} local steps, batch ${s.training.batchSize}, ` +
      `learning rate ${s.training.learningRate}` +
      (s.training.deadlineSeconds ? `, deadline ${s.training.deadlineSeconds} simulated s` : ''),
    `- **Devices**: ${devicesText(s)}`,
    `- **Privacy**: ${privacyText(s)}`,
    `- **Transport**: ${s.transport}, ${s.workers} worker(s); seed ${summary.seed}`,
    `- **Reproduce**: \`fedpeft simulate ${s.output.dir}/${summary.run_id}/scenario.yaml\` (the resolved scenario is saved beside this report)`,
  ];
  return lines.join('\n');
}

/** The last round that scored personal adapters: the value the per-round table and the dashboard end on. */
function lastPersonalRound(
  summary: RunSummary,
  rounds: readonly RoundMetrics[],
): { round: number; value: number } | null {
  const lm = summary.task === 'language-model';
  for (let i = rounds.length - 1; i >= 0; i--) {
    const r = rounds[i] as RoundMetrics;
    const v = lm ? r.personal_val_ppl : r.personal_val_accuracy;
    if (v !== null) return { round: r.round, value: v };
  }
  return null;
}

function resultsTable(summary: RunSummary, rounds: readonly RoundMetrics[]): string {
  const lm = summary.task === 'language-model';
  const q = lm ? 'validation perplexity' : 'validation accuracy';
  const [base, global, personal] = lm
    ? [summary.base_ppl, summary.final_global_ppl, summary.final_personal_ppl]
    : [summary.base_accuracy, summary.final_global_accuracy, summary.final_personal_accuracy];
  const last = lastPersonalRound(summary, rounds);
  const rows: string[][] = [
    [`${q}, base`, formatValue(base), ''],
    [`${q}, global (final)`, formatValue(global), formatGain(summary.task, base, global)],
    [
      `${q}, personal (every client's latest)`,
      formatValue(personal),
      formatGain(summary.task, base, personal),
    ],
    ...(last
      ? [
          [
            `${q}, personal (round ${last.round} only)`,
            formatValue(last.value),
            formatGain(summary.task, base, last.value),
          ],
        ]
      : []),
  ];
  rows.push(
    ['bytes sent by clients (up)', formatBytes(summary.bytes_up), ''],
    ['bytes received by clients (down)', formatBytes(summary.bytes_down), ''],
    ['rounds completed', String(summary.rounds), ''],
    ...(summary.links !== null ? [['chain links run', String(summary.links), '']] : []),
    ['wall-clock time (rounds and evaluation; base preparation excluded)', formatSeconds(summary.wall_s), ''],
    ['trainable parameters per client', formatCount(summary.trainable_params), ''],
  );
  if (summary.epsilon !== null)
    rows.push(['privacy spent (ε, δ)', `(${formatValue(summary.epsilon)}, ${summary.delta ?? '—'})`, '']);
  return [
    markdownTable(['metric', 'value', 'vs base'], rows),
    `_base: the frozen model before training; global (final): the last global adapter, pooled over every ` +
      `client's held-out documents; personal (every client's latest): each client's own adapter scored the last ` +
      `round it took part in, pooled over those clients (token-weighted mean loss, so a geometric mean of ` +
      `perplexities) — clients are scored in different rounds, so it is not one round's value; personal ` +
      `(round N only): the clients that trained in the last round with personal scores. vs base: ` +
      `${lm ? 'relative change (lower perplexity is better)' : 'change in percentage points (higher is better)'}. ` +
      `Bytes in KiB/MiB (1024-based)._`,
  ].join('\n\n');
}

function roundsTable(summary: RunSummary, rounds: readonly RoundMetrics[]): string {
  const lm = summary.task === 'language-model';
  const dp = rounds.some((r) => r.epsilon !== null);
  const header = [
    'round',
    'completed / sampled',
    'train loss',
    lm ? 'global ppl' : 'global acc',
    lm ? 'personal ppl' : 'personal acc',
    'up',
    'down',
    'time',
    ...(dp ? ['ε'] : []),
  ];
  const rows = rounds.map((r) => [
    String(r.round),
    `${r.completed} / ${r.participants}`,
    formatValue(r.train_loss),
    formatValue(lm ? r.global_val_ppl : r.global_val_accuracy),
    formatValue(lm ? r.personal_val_ppl : r.personal_val_accuracy),
    formatBytes(r.bytes_up),
    formatBytes(r.bytes_down),
    formatSeconds(r.round_s),
    ...(dp ? [formatValue(r.epsilon)] : []),
  ]);
  return [
    markdownTable(header, rows),
    `_completed / sampled: clients whose update was aggregated / clients picked for the round; train loss: ` +
      `mean of the local training losses; global: the round's global adapter on ${
        lm ? 'the held-out documents (perplexity)' : 'the held-out examples (accuracy)'
      }; personal: only the clients that trained that round, each on its own held-out data — a different ` +
      `sample of clients every round, so this column zig-zags with who took part rather than with progress; ` +
      `up / down: protocol payloads, all clients; time: wall-clock on this machine._`,
  ].join('\n\n');
}

function clientsTable(summary: RunSummary, clients: readonly ClientResult[]): string {
  const lm = summary.task === 'language-model';
  const rows = clients.map((c) => {
    const [base, global, personal] = lm
      ? [c.base_ppl, c.global_ppl, c.personal_ppl]
      : [c.base_accuracy, c.global_accuracy, c.personal_accuracy];
    return [
      c.client_id,
      c.device_class ?? '—',
      String(c.rounds_participated),
      formatValue(base),
      formatValue(global),
      formatValue(personal),
      formatGain(summary.task, base, personal ?? global),
    ];
  });
  const q = lm ? 'ppl' : 'acc';
  return [
    markdownTable(
      ['client', 'device', 'rounds in', `base ${q}`, `global ${q}`, `personal ${q}`, 'personal vs base'],
      rows,
    ),
    `_rounds in: rounds the client's update was aggregated; global: the final global adapter; personal: the ` +
      `client's own adapter, scored the last round it took part in (— if it never did; the column then ` +
      `compares global); vs base: ${lm ? 'relative change' : 'percentage points'}._`,
  ].join('\n\n');
}

const HOW_TO_READ = `**base** is the frozen model before federated training; **global** is the aggregated model every client
receives; **personal** is a client's own model after its local steps on top of the global one. Each client is
scored on its own held-out documents (never trained on), so the numbers measure generalisation to that client's
text. For perplexity lower is better (a perplexity of P means the model is as unsure as a uniform choice among P
bytes); for accuracy higher is better, and its changes are in percentage points. Bytes are protocol payloads on
the wire, in 1024-based units (KiB, MiB) as on the dashboard. The per-client plot puts a dot per model on an
axis fitted to the data (not from 0), so gains of a few percent are visible. See docs/reading-the-report.md.`;

export function buildRunReport(input: RunReportInput): string {
  const { scenario, summary, rounds, clients, plots } = input;
  const lm = summary.task === 'language-model';
  const sections = [
    `# fedpeft run \`${summary.run_id}\``,
    scenario.description ? `> ${scenario.description}` : '',
    `Scenario \`${summary.scenario}\`, started ${summary.started_at}, finished ${summary.finished_at}.`,
    input.base ? baseHeaderLine(input.base, false) : '',
    '## What was run',
    whatWasRun(scenario, summary),
    '## Results',
    resultsTable(summary, rounds),
    '## Rounds',
    rounds.length ? roundsTable(summary, rounds) : '_No round completed._',
  ];
  if (plots.quality || plots.loss) {
    sections.push('## Plots');
    if (plots.quality) sections.push(`![${lm ? 'Perplexity' : 'Accuracy'} per round](${plots.quality})`);
    if (plots.loss) sections.push(`![Loss per round](${plots.loss})`);
  }
  sections.push(
    '## Per client: before and after',
    clients.length ? clientsTable(summary, clients) : '_No client results._',
  );
  if (plots.clients) sections.push(`![Per-client before and after](${plots.clients})`);
  sections.push('## How to read this report', HOW_TO_READ);
  return `${sections.filter((s) => s !== '').join('\n\n')}\n`;
}
