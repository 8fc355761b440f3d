/**
 * `bench/results/latest.json` and `latest.md`: merging a run into what is there, rendering the table, and
 * writing both atomically (a benchmark interrupted half-way must not leave a truncated file behind).
 *
 * Merge rule: a suite that ran replaces *all* of its previous keys (a key it no longer records, e.g. native
 * BLAS on a machine without numpy, disappears rather than lingering from another machine); suites that did not
 * run keep theirs, so a long opt-in suite run separately survives the next quick default run.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { FedpeftError } from '../../shared/errors.ts';
import type { BenchFile, BenchResult, MachineInfo, SuiteRunInfo } from './types.ts';

export interface SuiteOutcome {
  suite: string;
  info: SuiteRunInfo;
  results: Record<string, { value: number; unit: string }>;
}

export function mergeRun(
  previous: BenchFile | null,
  machine: MachineInfo,
  outcomes: SuiteOutcome[],
): BenchFile {
  const rerun = new Set(outcomes.map((o) => o.suite));
  const results: Record<string, BenchResult> = {};
  for (const [key, r] of Object.entries(previous?.results ?? {})) {
    if (!rerun.has(r.suite)) results[key] = r;
  }
  for (const o of outcomes) {
    for (const [key, r] of Object.entries(o.results)) results[key] = { ...r, suite: o.suite };
  }
  const suites: Record<string, SuiteRunInfo> = { ...(previous?.suites ?? {}) };
  for (const o of outcomes) suites[o.suite] = o.info;
  return { machine, results: sortByKey(results), suites: sortByKey(suites) };
}

function sortByKey<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Four significant digits: enough to compare runs, short enough to read. */
export function formatValue(v: number): string {
  if (v === 0 || !Number.isFinite(v)) return String(v);
  const digits = Math.max(0, 3 - Math.floor(Math.log10(Math.abs(v))));
  return v.toFixed(Math.min(digits, 6));
}

export function renderMarkdown(file: BenchFile): string {
  const m = file.machine;
  const lines = [
    '# fedpeft benchmark results',
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, TensorFlow.js ${m.tfjs}, ` +
      `default backend ${m.backend}. Last run ${m.date}.`,
    '',
    '| key | value | unit | suite |',
    '|---|---:|---|---|',
  ];
  for (const [key, r] of Object.entries(file.results)) {
    lines.push(`| \`${key}\` | ${formatValue(r.value)} | ${r.unit} | ${r.suite} |`);
  }
  lines.push('', '| suite | last run | quick | seconds |', '|---|---|---|---:|');
  for (const [name, s] of Object.entries(file.suites)) {
    lines.push(`| ${name} | ${s.date} | ${s.quick ? 'yes' : 'no'} | ${s.seconds.toFixed(1)} |`);
  }
  return `${lines.join('\n')}\n`;
}

export async function readResults(file: string): Promise<BenchFile | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as BenchFile;
    if (typeof parsed !== 'object' || parsed === null || typeof parsed.results !== 'object') {
      throw new Error('no "results" object');
    }
    // Files written before suites were tracked: give their results no owner so they are kept, not dropped.
    for (const r of Object.values(parsed.results)) r.suite ??= '';
    parsed.suites ??= {};
    return parsed;
  } catch (err) {
    throw new FedpeftError(
      'BENCH_RESULTS_CORRUPT',
      `${file} is not a valid results file (${(err as Error).message}); fix it or delete it to start afresh.`,
    );
  }
}

/** Write `latest.json` and `latest.md` into `dir`, each atomically (temp file + rename). */
export async function writeResults(
  dir: string,
  file: BenchFile,
): Promise<{ json: string; markdown: string }> {
  await mkdir(dir, { recursive: true });
  const json = path.join(dir, 'latest.json');
  const markdown = path.join(dir, 'latest.md');
  await writeFileAtomic(json, `${JSON.stringify(file, null, 2)}\n`);
  await writeFileAtomic(markdown, renderMarkdown(file));
  return { json, markdown };
}
