/**
 * Which text a centralized fine-tune trains and evaluates on, chosen the way a federation would see it: the
 * corpus is partitioned into natural clients (SOTU by president or party) with each client's own
 * train/validation/test split, and either one client's data or all clients' data pooled is used. Evaluation
 * is always on held-out *documents* (whole speeches) of the same clients, never on text seen in training.
 */
import { FedpeftError } from '../errors.ts';
import { partitionCorpus, type ClientData } from '../data/partition.ts';
import type { Corpus } from '../data/text-document.ts';

export interface FinetuneDataOptions {
  /** The document attribute whose values are clients (`president`, `party`). */
  partition: string;
  /** One client's data; omit for all clients pooled. */
  client?: string | undefined;
  /** Partition seed (the same seed gives the federation's exact splits). Default 0. */
  seed?: number;
  /** Which held-out split to score. Default `validation`. */
  evaluateOn?: 'validation' | 'test';
}

export interface FinetuneTexts {
  train: string[];
  evaluation: string[];
  /** The clients whose data is used. */
  clients: string[];
  description: string;
}

export function selectFinetuneTexts(corpus: Corpus, options: FinetuneDataOptions): FinetuneTexts {
  if (!corpus.naturalAttributes.includes(options.partition)) {
    throw new FedpeftError(
      'INVALID_PARTITION',
      `--partition ${options.partition} does not apply to ${corpus.name}; its natural partitions are: ` +
        `${corpus.naturalAttributes.join(', ') || '(none)'}`,
    );
  }
  const partition = partitionCorpus(corpus, {
    kind: 'natural',
    by: options.partition,
    seed: options.seed ?? 0,
  });
  let chosen: ClientData[] = partition.clients;
  if (options.client !== undefined) {
    const wanted = options.client.toLowerCase();
    const match = partition.clients.find((c) => c.clientId.toLowerCase() === wanted);
    if (!match) {
      const dropped = partition.dropped.find((d) => d.clientId.toLowerCase() === wanted);
      const names = partition.clients.map((c) => c.clientId);
      throw new FedpeftError(
        'UNKNOWN_CLIENT',
        dropped
          ? `client '${options.client}' was dropped: ${dropped.reason}`
          : `no client '${options.client}' in ${corpus.name} by ${options.partition}; clients: ${names.join(', ')}`,
      );
    }
    chosen = [match];
  }
  const split = options.evaluateOn ?? 'validation';
  const train = chosen.flatMap((c) => c.train.map((d) => d.text));
  const evaluation = chosen.flatMap((c) => c[split].map((d) => d.text));
  const who =
    options.client !== undefined ? `client '${chosen[0]?.clientId}'` : `${chosen.length} clients pooled`;
  return {
    train,
    evaluation,
    clients: chosen.map((c) => c.clientId),
    description: `${corpus.name} by ${options.partition}, ${who}: ${train.length} training and ${evaluation.length} held-out (${split}) documents`,
  };
}
