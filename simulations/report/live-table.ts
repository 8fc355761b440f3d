/**
 * The per-round table printed while a run is going: a header once, then one fixed-width line per completed
 * round, so the terminal scrolls like a log (works in CI logs and pipes, where redrawing a table would not).
 */
import type { RoundMetrics, Task } from './run-records.ts';
import { formatBytes, formatSeconds, formatValue } from './format.ts';

interface Column {
  title: string;
  width: number;
  cell(m: RoundMetrics): string;
}

function columns(task: Task, dp: boolean): Column[] {
  const lm = task === 'language-model';
  const cols: Column[] = [
    { title: 'round', width: 5, cell: (m) => String(m.round) },
    { title: 'clients', width: 7, cell: (m) => `${m.completed}/${m.participants}` },
    { title: 'dropped', width: 7, cell: (m) => String(m.dropped) },
    { title: 'train loss', width: 10, cell: (m) => formatValue(m.train_loss) },
    {
      title: lm ? 'global ppl' : 'global acc',
      width: 10,
      cell: (m) => formatValue(lm ? m.global_val_ppl : m.global_val_accuracy),
    },
    {
      title: lm ? 'personal ppl' : 'personal acc',
      width: 12,
      cell: (m) => formatValue(lm ? m.personal_val_ppl : m.personal_val_accuracy),
    },
    { title: 'up', width: 9, cell: (m) => formatBytes(m.bytes_up) },
    { title: 'down', width: 9, cell: (m) => formatBytes(m.bytes_down) },
    { title: 'time', width: 12, cell: (m) => formatSeconds(m.round_s) },
  ];
  if (dp) cols.push({ title: 'epsilon', width: 8, cell: (m) => formatValue(m.epsilon, 2) });
  return cols;
}

export class LiveRoundTable {
  private readonly cols: Column[];
  private printedHeader = false;

  constructor(
    task: Task,
    private readonly write: (text: string) => void = (t) => process.stdout.write(t),
    options: { dp?: boolean } = {},
  ) {
    this.cols = columns(task, options.dp ?? false);
  }

  header(): string {
    const titles = this.cols.map((c) => c.title.padStart(c.width)).join('  ');
    return `${titles}\n${'-'.repeat(titles.length)}`;
  }

  row(m: RoundMetrics): string {
    return this.cols.map((c) => c.cell(m).padStart(c.width)).join('  ');
  }

  /** Prints the header before the first row. */
  print(m: RoundMetrics): void {
    if (!this.printedHeader) {
      this.write(`${this.header()}\n`);
      this.printedHeader = true;
    }
    this.write(`${this.row(m)}\n`);
  }
}
