/**
 * The plots of a run folder and of a comparison, as Vega-Lite specs built from the run records (rendered to
 * SVG by `svg-render.ts`). Series names are the words the report uses ("global", "personal", "base"), so the
 * legend, the tables and docs/reading-the-report.md say the same thing.
 */
import type { PlotSpec } from './svg-render.ts';
import type { ClientResult, RoundMetrics, RunSummary, Task } from './run-records.ts';

const WIDTH = 520;
const HEIGHT = 260;

interface SeriesPoint {
  round: number;
  series: string;
  value: number;
}

function qualityName(task: Task): { key: 'ppl' | 'accuracy'; title: string } {
  return task === 'language-model'
    ? { key: 'ppl', title: 'validation perplexity (lower is better)' }
    : { key: 'accuracy', title: 'validation accuracy (higher is better)' };
}

/**
 * Global and personal quality per round, with the base model as a dashed line. Round 0 is the base: the
 * adapted model equals the base before any training (every output-side factor starts at zero).
 */
export function qualityPlot(
  task: Task,
  rounds: readonly RoundMetrics[],
  base: number | null,
  title = 'Quality per round',
): PlotSpec {
  const { key, title: yTitle } = qualityName(task);
  const points: SeriesPoint[] = [];
  const last = rounds.length > 0 ? Math.max(...rounds.map((r) => r.round)) : 1;
  if (base !== null) {
    points.push({ round: 0, series: 'base', value: base }, { round: last, series: 'base', value: base });
    points.push({ round: 0, series: 'global', value: base });
  }
  for (const r of rounds) {
    const g = key === 'ppl' ? r.global_val_ppl : r.global_val_accuracy;
    const p = key === 'ppl' ? r.personal_val_ppl : r.personal_val_accuracy;
    if (g !== null) points.push({ round: r.round, series: 'global', value: g });
    if (p !== null) points.push({ round: r.round, series: 'personal', value: p });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: WIDTH,
    height: HEIGHT,
    data: { values: points },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'round', type: 'quantitative', title: 'round', axis: { tickMinStep: 1, format: 'd' } },
      y: { field: 'value', type: 'quantitative', title: yTitle, scale: { zero: false } },
      color: {
        field: 'series',
        type: 'nominal',
        title: 'model',
        scale: { domain: ['global', 'personal', 'base'], range: ['#1f77b4', '#ff7f0e', '#7f7f7f'] },
      },
      strokeDash: {
        field: 'series',
        type: 'nominal',
        title: 'model',
        scale: {
          domain: ['global', 'personal', 'base'],
          range: [
            [1, 0],
            [1, 0],
            [5, 4],
          ],
        },
      },
    },
  };
}

/** Mean local training loss and the global model's validation loss per round. */
export function lossPlot(rounds: readonly RoundMetrics[], title = 'Loss per round'): PlotSpec {
  const points: SeriesPoint[] = [];
  for (const r of rounds) {
    if (r.train_loss !== null) points.push({ round: r.round, series: 'train (local)', value: r.train_loss });
    if (r.global_val_loss !== null)
      points.push({ round: r.round, series: 'validation (global)', value: r.global_val_loss });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: WIDTH,
    height: HEIGHT,
    data: { values: points },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'round', type: 'quantitative', title: 'round', axis: { tickMinStep: 1, format: 'd' } },
      y: { field: 'value', type: 'quantitative', title: 'loss (nats)', scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: 'loss' },
    },
  };
}

/** Every client's quality on its own held-out data: base, the final global model, its personal model. */
export function clientsPlot(
  task: Task,
  clients: readonly ClientResult[],
  title = 'Per client: before and after',
): PlotSpec {
  const { key, title: xTitle } = qualityName(task);
  const rows: { client: string; series: string; value: number }[] = [];
  for (const c of clients) {
    const values =
      key === 'ppl'
        ? { base: c.base_ppl, global: c.global_ppl, personal: c.personal_ppl }
        : { base: c.base_accuracy, global: c.global_accuracy, personal: c.personal_accuracy };
    for (const [series, value] of Object.entries(values))
      if (value !== null) rows.push({ client: c.client_id, series, value });
  }
  // A dot per client and model on an axis fitted to the data (not from 0): the base-to-personal gains are a
  // few percent of the value, invisible on bars that start at 0 (and bars must start at 0 to be honest).
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: WIDTH,
    height: { step: 16 } as unknown as number,
    data: { values: rows },
    mark: { type: 'point', filled: true, size: 60 },
    encoding: {
      y: { field: 'client', type: 'nominal', title: null, sort: null },
      x: { field: 'value', type: 'quantitative', title: xTitle, scale: { zero: false, nice: true } },
      shape: { field: 'series', type: 'nominal', title: 'model', sort: ['base', 'global', 'personal'] },
      color: {
        field: 'series',
        type: 'nominal',
        title: 'model',
        scale: { domain: ['base', 'global', 'personal'], range: ['#7f7f7f', '#1f77b4', '#ff7f0e'] },
      },
    },
  };
}

/** One point per method: final quality against bytes sent (up + down) and against wall-clock time. */
export function comparisonPlot(
  summaries: readonly RunSummary[],
  title = 'Quality vs bytes sent vs time',
  /** Seconds spent preparing the shared base before the runs (named on the time axis, charged to none). */
  baseSeconds?: number,
): PlotSpec {
  const task = summaries[0]?.task ?? 'language-model';
  const { title: yTitle } = qualityName(task);
  const rows = summaries.map((s) => ({
    method: s.method,
    quality: task === 'language-model' ? s.final_global_ppl : s.final_global_accuracy,
    mebibytes: (s.bytes_up + s.bytes_down) / 1024 ** 2,
    seconds: s.wall_s,
  }));
  const panel = (field: 'mebibytes' | 'seconds', xTitle: string) => ({
    width: 300,
    height: HEIGHT,
    layer: [
      { mark: { type: 'point' as const, filled: true, size: 80 } },
      {
        mark: { type: 'text' as const, dx: 6, align: 'left' as const, fontSize: 11 },
        encoding: { text: { field: 'method' } },
      },
    ],
    encoding: {
      x: { field, type: 'quantitative' as const, title: xTitle, scale: { zero: true } },
      y: { field: 'quality', type: 'quantitative' as const, title: yTitle, scale: { zero: false } },
      color: { field: 'method', type: 'nominal' as const, title: 'method' },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values: rows },
    hconcat: [
      panel('mebibytes', 'MiB sent (up + down, whole run)'),
      panel(
        'seconds',
        baseSeconds === undefined
          ? 'wall-clock seconds'
          : `wall-clock seconds (base preparation ${baseSeconds.toFixed(0)} s, once, not included)`,
      ),
    ],
  };
}
