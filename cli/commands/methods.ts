/**
 * `fedpeft methods`: every registered adapter method measured on a real model — trainable parameters, bytes
 * sent per round, and which tensors are shared (with their aggregation rule), private and derived. The numbers
 * come from attaching each method with its default config and reading the live adapter, not from formulas.
 */
import type { Command } from 'commander';
import Table from 'cli-table3';
import { selectBackend } from '../../shared/tensor/backend.ts';
import { createModel, MODEL_NAMES } from '../../shared/model/zoo.ts';
import { isFedpeftError } from '../../shared/errors.ts';
import {
  attachAdapter,
  listAdapterMethods,
  summarizeAdapter,
  type AdapterSummary,
} from '../../shared/adapters/index.ts';
import { UserError } from '../errors.ts';
import type { CliCommand } from './registry.ts';

export interface MethodReport {
  method: string;
  description: string;
  reference?: string;
  defaults: unknown;
  /** Absent when the method cannot attach to this model with its defaults (`error` says why). */
  summary?: AdapterSummary;
  error?: string;
}

/** Attach every method (defaults, seed 0) to a fresh `modelName` and summarize it. */
export function describeMethods(modelName: string): MethodReport[] {
  if (!(MODEL_NAMES as string[]).includes(modelName)) {
    throw new UserError(`Unknown model '${modelName}'. Valid models: ${MODEL_NAMES.join(', ')}.`);
  }
  const model = createModel(modelName, { seed: 0 });
  try {
    return listAdapterMethods().map((m) => {
      const report: MethodReport = {
        method: m.name,
        description: m.description,
        ...(m.reference ? { reference: m.reference } : {}),
        defaults: m.configSchema.parse({}),
      };
      try {
        const adapter = attachAdapter(model, m.name, {}, { seed: 0 });
        try {
          report.summary = summarizeAdapter(adapter);
        } finally {
          adapter.detach();
        }
      } catch (err) {
        if (!isFedpeftError(err)) throw err;
        report.error = err.message;
      }
      return report;
    });
  } finally {
    model.dispose();
  }
}

/** `layers.0.attn.q.B`, `layers.1.attn.q.B` -> `layers.*.attn.q.B [16x96] x2`. */
function groupTensors(
  tensors: { name: string; shape: number[] }[],
  suffix?: (name: string) => string,
): string {
  const groups = new Map<string, { shape: number[]; count: number; extra: string }>();
  for (const t of tensors) {
    const key = t.name.replace(/^layers\.\d+\./, 'layers.*.');
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { shape: t.shape, count: 1, extra: suffix ? suffix(t.name) : '' });
  }
  if (groups.size === 0) return '-';
  return [...groups]
    .map(([k, g]) => `${k} [${g.shape.join('x')}]${g.count > 1 ? ` x${g.count}` : ''}${g.extra}`)
    .join('\n');
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** The default table fits a terminal this wide; `--wide` lists every tensor (and is as wide as it needs). */
export const METHODS_TABLE_COLUMNS = 100;

/** Column widths (content + padding) of the default table; with 8 borders the total is METHODS_TABLE_COLUMNS. */
const NARROW_WIDTHS = [13, 11, 12, 8, 24, 9, 15];

function countOf(tensors: readonly unknown[]): string {
  return tensors.length === 0 ? '-' : String(tensors.length);
}

/** One line per method: counts instead of tensor names, the distinct aggregation rules. */
function narrowTable(reports: MethodReport[]): string {
  const table = new Table({
    head: ['method', 'trainable', 'sent/round', 'shared', 'aggregation', 'private', 'derived'],
    colWidths: NARROW_WIDTHS,
    wordWrap: true,
    style: { head: [], border: [] },
  });
  for (const r of reports) {
    const s = r.summary;
    if (!s) {
      table.push([r.method, { colSpan: 6, content: `cannot attach with defaults: ${r.error ?? '?'}` }]);
      continue;
    }
    const rules = [...new Set(s.shared.map((t) => t.aggregation))];
    table.push([
      r.method,
      s.trainableParams.toLocaleString('en-US'),
      formatBytes(s.bytesPerRound),
      countOf(s.shared),
      rules.join(', ') || '-',
      countOf(s.private),
      countOf(s.derived),
    ]);
  }
  return table.toString();
}

/** Every tensor group with its shape (and, for shared tensors, its aggregation rule). */
function wideTable(reports: MethodReport[]): string {
  const table = new Table({
    head: ['method', 'trainable', 'sent / round', 'shared (aggregation)', 'private', 'derived'],
    style: { head: [], border: [] },
  });
  for (const r of reports) {
    const s = r.summary;
    if (!s) {
      table.push([r.method, { colSpan: 5, content: `cannot attach with defaults: ${r.error ?? '?'}` }]);
      continue;
    }
    const rules = new Map(s.shared.map((t) => [t.name, t.aggregation]));
    table.push([
      r.method,
      s.trainableParams.toLocaleString('en-US'),
      formatBytes(s.bytesPerRound),
      groupTensors(s.shared, (name) => ` (${rules.get(name)})`),
      groupTensors(s.private),
      groupTensors(s.derived),
    ]);
  }
  return table.toString();
}

/**
 * The methods table: by default one line per method within METHODS_TABLE_COLUMNS (tensor counts), with
 * `wide` every tensor group by name and shape.
 */
export function formatMethodsTable(
  modelName: string,
  reports: MethodReport[],
  options: { wide?: boolean } = {},
): string {
  const head = `Adapter methods on ${modelName} (default configs, float32 upload per round):`;
  if (options.wide) return `${head}\n${wideTable(reports)}`;
  return (
    `${head}\n${narrowTable(reports)}\n` +
    'Counts are tensors; --wide lists each tensor with its shape, --json gives everything.'
  );
}

export const methodsCommand: CliCommand = {
  name: 'methods',
  register(program: Command) {
    program
      .command('methods')
      .description(
        'list adapter methods with trainable parameters, bytes sent per round and shared/private/derived tensors',
      )
      .option('--model <name>', `model to measure on (${MODEL_NAMES.join(', ')})`, 'tiny-gpt')
      .option('--wide', `list every tensor with its shape (wider than ${METHODS_TABLE_COLUMNS} columns)`)
      .option('--json', 'print JSON instead of a table')
      .addHelpText(
        'after',
        '\nExamples:\n  fedpeft methods\n  fedpeft methods --wide\n  fedpeft methods --model small-gpt --json',
      )
      .action(async (opts: { model: string; json?: boolean; wide?: boolean }, cmd: Command) => {
        // Counting needs no speed: cpu unless a backend is forced (PiCa's SVD runs at attach either way).
        const backend = cmd.optsWithGlobals<{ backend?: string }>().backend;
        await selectBackend({ force: backend ?? 'cpu' });
        const reports = describeMethods(opts.model);
        process.stdout.write(
          opts.json
            ? `${JSON.stringify({ model: opts.model, methods: reports }, null, 2)}\n`
            : `${formatMethodsTable(opts.model, reports, { wide: opts.wide ?? false })}\n`,
        );
      });
  },
};
