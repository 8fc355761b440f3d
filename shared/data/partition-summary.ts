/**
 * What a partition looks like, in numbers a person can check at a glance and a program can read: documents
 * and UTF-8 bytes (= tokens under the default byte tokenizer) per client and split, the label mix and its
 * entropy (how non-IID the clients are), and what was dropped and why. Plain data, so it prints as JSON as is.
 */
import { SPLIT_NAMES, type SplitName } from './document-split.ts';
import { utf8ByteLength } from './normalize-text.ts';
import type { Partition } from './partition.ts';
import type { PartitionOptions } from './partition-options.ts';

export type PerSplit = Record<SplitName, number>;

export interface ClientSummary {
  clientId: string;
  documents: PerSplit;
  bytes: PerSplit;
  /** Label -> document count over all three splits (empty when the partition has no label attribute). */
  labels: Record<string, number>;
  /** Shannon entropy of the client's label distribution, in bits (0 = a single label). */
  labelEntropyBits: number;
}

export interface PartitionSummary {
  dataset: string;
  /** e.g. `dirichlet(alpha=0.1, clients=10)`, `natural(by=president)`. */
  scheme: string;
  seed: number;
  labelAttribute: string | null;
  clients: ClientSummary[];
  totals: { clients: number; documents: PerSplit; bytes: PerSplit; labels: Record<string, number> };
  /** Mean over clients of `labelEntropyBits`; compare with the pooled entropy to see the skew. */
  meanLabelEntropyBits: number;
  /** Entropy of the pooled label distribution of all kept documents (what an IID client would have). */
  pooledLabelEntropyBits: number;
  dropped: { groups: number; documents: number; reasons: string[] };
  warnings: string[];
}

/** Shannon entropy in bits of a distribution given by counts. */
export function entropyBits(counts: Iterable<number>): number {
  const values = [...counts].filter((c) => c > 0);
  const total = values.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const h = -values.reduce((acc, c) => acc + (c / total) * Math.log2(c / total), 0);
  return h === 0 ? 0 : h; // a single label gives -0, which JSON and strict equality would show oddly
}

export function describeScheme(options: PartitionOptions): string {
  switch (options.kind) {
    case 'natural':
      return `natural(by=${options.by}${options.maxClients ? `, maxClients=${options.maxClients}` : ''})`;
    case 'iid':
      return `iid(clients=${options.clients})`;
    case 'dirichlet':
      return `dirichlet(alpha=${options.alpha}, clients=${options.clients}${options.label ? `, label=${options.label}` : ''})`;
    case 'quantity':
      return options.distribution === 'dirichlet'
        ? `quantity(dirichlet alpha=${options.alpha}, clients=${options.clients})`
        : `quantity(power-law exponent=${options.exponent}, clients=${options.clients})`;
  }
}

const zeroSplits = (): PerSplit => ({ train: 0, validation: 0, test: 0 });

export function summarizePartition(partition: Partition): PartitionSummary {
  const labelAttribute = partition.labelAttribute ?? null;
  const totals = {
    clients: partition.clients.length,
    documents: zeroSplits(),
    bytes: zeroSplits(),
    labels: {} as Record<string, number>,
  };
  const clients = partition.clients.map((client): ClientSummary => {
    const documents = zeroSplits();
    const bytes = zeroSplits();
    const labels: Record<string, number> = {};
    for (const split of SPLIT_NAMES) {
      for (const doc of client[split]) {
        const size = utf8ByteLength(doc.text);
        documents[split]++;
        bytes[split] += size;
        totals.documents[split]++;
        totals.bytes[split] += size;
        const label = labelAttribute ? doc.attributes[labelAttribute] : undefined;
        if (label !== undefined) {
          labels[label] = (labels[label] ?? 0) + 1;
          totals.labels[label] = (totals.labels[label] ?? 0) + 1;
        }
      }
    }
    return {
      clientId: client.clientId,
      documents,
      bytes,
      labels,
      labelEntropyBits: entropyBits(Object.values(labels)),
    };
  });
  const mean = clients.reduce((s, c) => s + c.labelEntropyBits, 0) / Math.max(1, clients.length);
  return {
    dataset: partition.dataset,
    scheme: describeScheme(partition.options),
    seed: partition.options.seed,
    labelAttribute,
    clients,
    totals,
    meanLabelEntropyBits: mean,
    pooledLabelEntropyBits: entropyBits(Object.values(totals.labels)),
    dropped: {
      groups: partition.dropped.length,
      documents: partition.dropped.reduce((s, d) => s + d.documentIds.length, 0),
      reasons: partition.dropped.map((d) => d.reason),
    },
    warnings: partition.warnings,
  };
}
