/** IID partition: a seeded shuffle dealt round-robin, so client sizes differ by at most one document. */
import type { Rng } from '../tensor/rng.ts';
import { ascending, syntheticClientIds, type AssignmentResult } from './partition-assignment.ts';

export function assignIid(documentCount: number, clients: number, rng: Rng): AssignmentResult {
  const order = rng.permutation(documentCount);
  const ids = syntheticClientIds(clients);
  const buckets = ids.map(() => [] as number[]);
  order.forEach((docIndex, k) => (buckets[k % clients] as number[]).push(docIndex));
  return {
    clients: ids.map((clientId, i) => ({ clientId, indices: ascending(buckets[i] as number[]) })),
    dropped: [],
  };
}
