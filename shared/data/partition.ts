/**
 * Partitions a corpus over federated clients and splits every client's documents into its own
 * train/validation/test sets. Everything is derived from `options.seed` through forks of one `Rng`: the
 * assignment from `partition:<kind>`, each client's split from `split:<clientId>`, so a client's split does not
 * change when another client is added or dropped.
 *
 * Guarantee (tested): every document is in exactly one split of exactly one client, or listed in `dropped`
 * with the reason (natural groups beyond `maxClients`; clients below the minimum size when
 * `onTooSmall: 'drop'`, which also adds a line to `warnings`).
 */
import { FedpeftError } from '../errors.ts';
import { Rng } from '../tensor/rng.ts';
import { minimumDocumentsForSplit, splitDocuments, type DocumentSplit } from './document-split.ts';
import type { AssignmentResult, DroppedAssignment } from './partition-assignment.ts';
import { assignDirichlet } from './partition-dirichlet.ts';
import { assignIid } from './partition-iid.ts';
import { assignNatural } from './partition-natural.ts';
import {
  partitionOptionsSchema,
  type PartitionOptions,
  type PartitionOptionsInput,
} from './partition-options.ts';
import { assignQuantity } from './partition-quantity.ts';
import type { Corpus, TextDocument } from './text-document.ts';

/** Anything with documents can be partitioned (a shipped corpus, or documents a user brings). */
export type PartitionSource = Pick<Corpus, 'documents' | 'labelAttribute'> & { name: string };

export interface ClientData extends DocumentSplit<TextDocument> {
  clientId: string;
}

export interface DroppedDocuments {
  clientId: string;
  documentIds: string[];
  reason: string;
}

export interface Partition {
  dataset: string;
  options: PartitionOptions;
  /** The attribute used as label (summaries show its mix), if any. */
  labelAttribute?: string;
  clients: ClientData[];
  dropped: DroppedDocuments[];
  warnings: string[];
}

function assign(
  source: PartitionSource,
  options: PartitionOptions,
  minDocuments: number,
  rng: Rng,
): AssignmentResult {
  switch (options.kind) {
    case 'natural':
      return assignNatural(source.documents, options.by, options.maxClients);
    case 'iid':
      return assignIid(source.documents.length, options.clients, rng);
    case 'dirichlet': {
      const labelAttribute = options.label ?? source.labelAttribute;
      if (!labelAttribute)
        throw new FedpeftError(
          'NO_LABEL',
          `dataset '${source.name}' has no labels, so a Dirichlet label-skew partition is undefined; ` +
            `use iid or quantity, or name a document attribute as the label`,
        );
      return assignDirichlet(
        source.documents,
        {
          clients: options.clients,
          alpha: options.alpha,
          labelAttribute,
          minDocuments,
          maxAttempts: options.maxAttempts,
        },
        rng,
      );
    }
    case 'quantity':
      return assignQuantity(source.documents.length, { ...options, minDocuments }, rng);
  }
}

function labelAttributeFor(source: PartitionSource, options: PartitionOptions): string | undefined {
  if (options.kind === 'dirichlet') return options.label ?? source.labelAttribute;
  return source.labelAttribute;
}

export function partitionCorpus(source: PartitionSource, input: PartitionOptionsInput): Partition {
  const options = partitionOptionsSchema.parse(input);
  const splitMinimum = minimumDocumentsForSplit(options.split);
  const minDocuments = Math.max(options.minDocuments ?? 0, splitMinimum);
  const root = new Rng(options.seed);
  const assignment = assign(source, options, minDocuments, root.fork(`partition:${options.kind}`));

  const docs = source.documents;
  const toIds = (indices: number[]): string[] => indices.map((i) => (docs[i] as TextDocument).id);
  const dropped: DroppedAssignment[] = [...assignment.dropped];
  const warnings: string[] = [];
  const clients: ClientData[] = [];
  for (const client of assignment.clients) {
    if (client.indices.length < minDocuments) {
      const why =
        `client '${client.clientId}' has ${client.indices.length} document(s), fewer than the minimum ${minDocuments}` +
        (minDocuments === splitMinimum ? ' (one per train/validation/test split)' : ' (minDocuments)');
      if (options.onTooSmall === 'error')
        throw new FedpeftError(
          'CLIENT_TOO_SMALL',
          `${why}; use fewer clients, a larger alpha, smaller validation/test fractions, or onTooSmall 'drop'`,
        );
      if (client.indices.length > 0) dropped.push({ ...client, reason: `${why}: dropped` });
      warnings.push(`${why}: dropped`);
      continue;
    }
    const split = splitDocuments(
      client.indices.map((i) => docs[i] as TextDocument),
      options.split,
      root.fork(`split:${client.clientId}`),
    );
    clients.push({ clientId: client.clientId, ...split });
  }
  if (clients.length === 0)
    throw new FedpeftError(
      'NO_CLIENTS',
      `partitioning '${source.name}' left no client with at least ${minDocuments} documents; use fewer clients`,
    );
  const labelAttribute = labelAttributeFor(source, options);
  return {
    dataset: source.name,
    options,
    ...(labelAttribute ? { labelAttribute } : {}),
    clients,
    dropped: dropped.map((d) => ({ clientId: d.clientId, documentIds: toIds(d.indices), reason: d.reason })),
    warnings,
  };
}
