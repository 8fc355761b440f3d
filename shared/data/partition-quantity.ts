/**
 * Quantity skew: labels stay IID but clients hold very different amounts of data. Every client first gets the
 * minimum document count (so quantity skew never silently drops clients), and the remaining documents are
 * shared out in proportions drawn from Dirichlet(alpha) or a power law (k-th client in a seeded order gets a
 * share proportional to k^-exponent, Zipf-like, as in real app-usage data).
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

export interface QuantityAssignOptions {
  clients: number;
  distribution: 'dirichlet' | 'power-law';
  alpha: number;
  exponent: number;
  minDocuments: number;
}

export function quantityShares(rng: Rng, options: QuantityAssignOptions): number[] {
  if (options.distribution === 'dirichlet') return sampleDirichlet(rng, options.alpha, options.clients);
  const rank = rng.permutation(options.clients);
  return rank.map((r) => Math.pow(r + 1, -options.exponent));
}

export function assignQuantity(
  documentCount: number,
  options: QuantityAssignOptions,
  rng: Rng,
): AssignmentResult {
  const floor = options.clients * options.minDocuments;
  if (documentCount < floor)
    throw new FedpeftError(
      'TOO_MANY_CLIENTS',
      `${documentCount} documents cannot give ${options.clients} clients at least ${options.minDocuments} each ` +
        `(needs ${floor}); use fewer clients or smaller validation/test fractions`,
    );
  const shares = quantityShares(rng, options);
  const sizes = apportion(documentCount - floor, shares).map((extra) => extra + options.minDocuments);
  const runs = cutConsecutive(rng.permutation(documentCount), sizes);
  const ids = syntheticClientIds(options.clients);
  return {
    clients: ids.map((clientId, c) => ({ clientId, indices: ascending(runs[c] as number[]) })),
    dropped: [],
  };
}
