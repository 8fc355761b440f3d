/**
 * Dirichlet label skew (Hsu, Qi & Brown 2019; the usual FL benchmark construction): for every label k the
 * documents of class k are shuffled and cut among clients in proportions p_k ~ Dirichlet(alpha * 1_N).
 * Draws are repeated (continuing the same seeded stream, so still reproducible) until every client has at
 * least the minimum number of documents or `maxAttempts` is reached; then the too-small clients are left to
 * the caller's drop-or-error policy.
 */
import { FedpeftError } from '../errors.ts';
import type { Rng } from '../tensor/rng.ts';
import {
  apportion,
  ascending,
  cutConsecutive,
  sampleDirichlet,
  syntheticClientIds,
  type AssignmentResult,
} from './partition-assignment.ts';
import type { TextDocument } from './text-document.ts';

export interface DirichletAssignOptions {
  clients: number;
  alpha: number;
  labelAttribute: string;
  minDocuments: number;
  maxAttempts: number;
}

/** Document indices per label, labels in sorted order (independent of document order). */
export function indicesByLabel(
  documents: readonly TextDocument[],
  labelAttribute: string,
): Map<string, number[]> {
  const byLabel = new Map<string, number[]>();
  documents.forEach((doc, i) => {
    const label = doc.attributes[labelAttribute];
    if (label === undefined)
      throw new FedpeftError(
        'NO_LABEL',
        `document '${doc.id}' has no '${labelAttribute}' attribute to use as the label for a Dirichlet partition`,
      );
    const list = byLabel.get(label);
    if (list) list.push(i);
    else byLabel.set(label, [i]);
  });
  return new Map([...byLabel].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function assignDirichlet(
  documents: readonly TextDocument[],
  options: DirichletAssignOptions,
  rng: Rng,
): AssignmentResult & { attempts: number } {
  const byLabel = indicesByLabel(documents, options.labelAttribute);
  const ids = syntheticClientIds(options.clients);
  let buckets: number[][] = [];
  let attempt = 0;
  while (attempt < options.maxAttempts) {
    attempt++;
    buckets = ids.map(() => []);
    for (const indices of byLabel.values()) {
      const shuffled = rng.shuffle([...indices]);
      const shares = sampleDirichlet(rng, options.alpha, options.clients);
      const runs = cutConsecutive(shuffled, apportion(shuffled.length, shares));
      runs.forEach((run, c) => (buckets[c] as number[]).push(...run));
    }
    if (buckets.every((b) => b.length >= options.minDocuments)) break;
  }
  return {
    clients: ids.map((clientId, c) => ({ clientId, indices: ascending(buckets[c] as number[]) })),
    dropped: [],
    attempts: attempt,
  };
}
