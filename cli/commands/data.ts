/**
 * `fedpeft data summary`: loads a shipped corpus, partitions it over clients and prints the partition (table
 * or JSON), so a user can see what a simulation's clients will hold before spending compute on it.
 */
import type { Command } from 'commander';
import { loadCorpus } from '../../shared/data/corpora.ts';
import { partitionCorpus } from '../../shared/data/partition.ts';
import { partitionOptionsSchema, type PartitionOptionsInput } from '../../shared/data/partition-options.ts';
import { summarizePartition } from '../../shared/data/partition-summary.ts';
import { formatPartitionTable } from '../../shared/data/partition-summary-table.ts';
import { CORPUS_NAMES, type Corpus } from '../../shared/data/text-document.ts';
import { UserError } from '../errors.ts';
import type { CliCommand } from './registry.ts';

const PARTITIONS = ['president', 'party', 'group', 'iid', 'dirichlet', 'quantity'] as const;

interface SummaryFlags {
  dataset: string;
  partition: string;
  clients?: string;
  alpha?: string;
  seed: string;
  validation: string;
  test: string;
  json?: boolean;
}

/** A flag value as a number, or one line saying which flag is wrong. */
function numberFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new UserError(`--${name} must be a number, got '${value}'`);
  return n;
}

function optionsFromFlags(corpus: Corpus, flags: SummaryFlags): PartitionOptionsInput {
  const { partition } = flags;
  if (!(PARTITIONS as readonly string[]).includes(partition))
    throw new UserError(`unknown --partition '${partition}'; choose one of: ${PARTITIONS.join(', ')}`);
  const clients = numberFlag('clients', flags.clients);
  const alpha = numberFlag('alpha', flags.alpha);
  const common = {
    seed: numberFlag('seed', flags.seed),
    split: { validation: numberFlag('validation', flags.validation), test: numberFlag('test', flags.test) },
  };
  const natural = partition !== 'iid' && partition !== 'dirichlet' && partition !== 'quantity';
  if (natural) {
    if (!corpus.naturalAttributes.includes(partition))
      throw new UserError(
        `--partition ${partition} does not apply to ${corpus.name}; natural partitions of ${corpus.name}: ` +
          `${corpus.naturalAttributes.join(', ') || '(none)'}; or use iid, dirichlet, quantity`,
      );
    if (alpha !== undefined) throw new UserError('--alpha applies only to --partition dirichlet or quantity');
    return {
      kind: 'natural',
      by: partition,
      ...(clients !== undefined ? { maxClients: clients } : {}),
      ...common,
    };
  }
  if (partition === 'iid') {
    if (alpha !== undefined) throw new UserError('--alpha applies only to --partition dirichlet or quantity');
    return { kind: 'iid', clients, ...common };
  }
  return { kind: partition, clients, alpha, ...common };
}

const FLAG_OF_PATH: Readonly<Record<string, string>> = {
  clients: '--clients',
  maxClients: '--clients',
  alpha: '--alpha',
  seed: '--seed',
  'split.validation': '--validation',
  'split.test': '--test',
  split: '--validation/--test',
};

export const dataCommand: CliCommand = {
  name: 'data',
  register(program: Command) {
    const data = program
      .command('data')
      .description('inspect the shipped corpora and how they partition over clients');
    data
      .command('summary')
      .description('partition a corpus over clients and print documents, bytes and label mix per client')
      .requiredOption('--dataset <name>', `corpus: ${CORPUS_NAMES.join(', ')}`)
      .requiredOption('--partition <scheme>', `${PARTITIONS.join(', ')} (president/party: sotu; group: spam)`)
      .option('--clients <n>', 'number of clients (natural partitions: keep the n largest groups)')
      .option(
        '--alpha <a>',
        'Dirichlet concentration for dirichlet (label skew) and quantity (size skew); default 0.5',
      )
      .option('--seed <s>', 'seed of the assignment and of every client split', '0')
      .option('--validation <fraction>', 'validation fraction per client', '0.1')
      .option('--test <fraction>', 'test fraction per client', '0.1')
      .option('--json', 'print the summary as one JSON object')
      .addHelpText(
        'after',
        '\nExamples:\n  fedpeft data summary --dataset sotu --partition president\n' +
          '  fedpeft data summary --dataset spam --partition dirichlet --clients 20 --alpha 0.1 --seed 7\n' +
          '  fedpeft data summary --dataset moby-dick --partition quantity --clients 5 --json',
      )
      .action((flags: SummaryFlags) => {
        const corpus = loadCorpus(flags.dataset);
        const input = optionsFromFlags(corpus, flags);
        const parsed = partitionOptionsSchema.safeParse(input);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          const path = issue?.path.map(String).join('.') ?? '';
          throw new UserError(`${FLAG_OF_PATH[path] ?? path}: ${issue?.message ?? 'invalid value'}`);
        }
        const summary = summarizePartition(partitionCorpus(corpus, parsed.data));
        process.stdout.write(
          flags.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatPartitionTable(summary)}\n`,
        );
      });
  },
};
