/** Renders a `PartitionSummary` as a terminal table (cli-table3) with a totals row and notes underneath. */
import Table from 'cli-table3';
import type { PartitionSummary, PerSplit } from './partition-summary.ts';

function kib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)}M` : `${(bytes / 1024).toFixed(1)}K`;
}

function labelMix(labels: Record<string, number>, maxShown = 3): string {
  const entries = Object.entries(labels).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const total = entries.reduce((s, [, n]) => s + n, 0);
  const percent = (n: number): string => {
    const p = (100 * n) / total;
    return p > 0 && p < 1 ? '<1%' : p > 99 && p < 100 ? '>99%' : `${Math.round(p)}%`;
  };
  const shown = entries.slice(0, maxShown).map(([label, n]) => `${label} ${percent(n)}`);
  if (entries.length > maxShown) shown.push(`+${entries.length - maxShown} more`);
  return shown.join(', ');
}

const sum = (s: PerSplit): number => s.train + s.validation + s.test;

export function formatPartitionTable(summary: PartitionSummary): string {
  const hasLabels = summary.labelAttribute !== null;
  const head = ['client', 'train', 'val', 'test', 'bytes train/val/test'];
  if (hasLabels) head.push(`${summary.labelAttribute} mix`, 'H bits');
  // No separator lines between rows: partitions with hundreds of clients should stay readable.
  const table = new Table({
    head,
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  const row = (name: string, docs: PerSplit, bytes: PerSplit, labels: Record<string, number>, h: string) => {
    const cells = [
      name,
      docs.train,
      docs.validation,
      docs.test,
      `${kib(bytes.train)}/${kib(bytes.validation)}/${kib(bytes.test)}`,
    ];
    if (hasLabels) cells.push(labelMix(labels), h);
    table.push(cells.map(String));
  };
  for (const c of summary.clients)
    row(c.clientId, c.documents, c.bytes, c.labels, c.labelEntropyBits.toFixed(2));
  const t = summary.totals;
  row(
    `total (${t.clients} clients)`,
    t.documents,
    t.bytes,
    t.labels,
    summary.pooledLabelEntropyBits.toFixed(2),
  );
  const lines = [
    `${summary.dataset}: ${summary.scheme}, seed ${summary.seed} — ${sum(t.documents)} documents, ${kib(sum(t.bytes))} bytes`,
    table.toString(),
  ];
  if (hasLabels)
    lines.push(
      `mean client label entropy ${summary.meanLabelEntropyBits.toFixed(3)} bits vs pooled ${summary.pooledLabelEntropyBits.toFixed(3)} bits`,
    );
  if (summary.dropped.documents > 0)
    lines.push(`dropped: ${summary.dropped.documents} document(s) in ${summary.dropped.groups} group(s)`);
  for (const w of summary.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}
