/** Number formats shared by the live table, report.md and the comparison report (one look everywhere). */

/**
 * Binary units (KiB = 1024 B, MiB, GiB), the convention the dashboard uses too
 * (server/dashboard/page/format.ts), so a byte count reads the same on the page, in the table and the report.
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(2)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** Perplexities and losses: 3 significant decimals where it matters, `—` for "not measured". */
export function formatValue(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(digits);
}

export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined) return '—';
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** Relative change of `after` against `before`, signed, e.g. `-12.3%`. */
export function formatChange(before: number | null, after: number | null): string {
  if (before === null || after === null || before === 0) return '—';
  const pct = ((after - before) / before) * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%`;
}

/** Change of an accuracy (0..1) in percentage points, signed, e.g. `+4.5 pt` (a relative % of 0 is undefined). */
export function formatPoints(before: number | null, after: number | null): string {
  if (before === null || after === null) return '—';
  const pt = (after - before) * 100;
  return `${pt >= 0 ? '+' : ''}${pt.toFixed(1)} pt`;
}

/** The change a report shows against the base: relative % for perplexity, percentage points for accuracy. */
export function formatGain(
  task: 'language-model' | 'classification',
  before: number | null,
  after: number | null,
): string {
  return task === 'classification' ? formatPoints(before, after) : formatChange(before, after);
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** A GitHub-flavoured markdown table; cells are escaped so a client name with `|` cannot break it. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const line = (cells: readonly string[]) => `| ${cells.map(esc).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
