/**
 * Natural partition: one client per distinct value of a document attribute, in order of first appearance
 * (SOTU presidents chronologically). The most realistic non-IID setting: clients differ in style, topic and
 * size the way real users do.
 */
import { FedpeftError } from '../errors.ts';
import type { AssignmentResult, ClientAssignment } from './partition-assignment.ts';
import type { TextDocument } from './text-document.ts';

export function assignNatural(
  documents: readonly TextDocument[],
  by: string,
  maxClients: number | undefined,
): AssignmentResult {
  const groups = new Map<string, number[]>();
  documents.forEach((doc, i) => {
    const value = doc.attributes[by];
    if (value === undefined) {
      const available = Object.keys(doc.attributes).join(', ') || '(none)';
      throw new FedpeftError(
        'UNKNOWN_ATTRIBUTE',
        `document '${doc.id}' has no attribute '${by}' to partition by; available: ${available}`,
      );
    }
    const list = groups.get(value);
    if (list) list.push(i);
    else groups.set(value, [i]);
  });
  const all: ClientAssignment[] = [...groups].map(([clientId, indices]) => ({ clientId, indices }));
  if (maxClients === undefined || maxClients >= all.length) return { clients: all, dropped: [] };
  // Largest groups first; ties keep first-appearance order (Array.prototype.sort is stable).
  const keep = new Set(
    [...all]
      .sort((a, b) => b.indices.length - a.indices.length)
      .slice(0, maxClients)
      .map((c) => c.clientId),
  );
  return {
    clients: all.filter((c) => keep.has(c.clientId)),
    dropped: all
      .filter((c) => !keep.has(c.clientId))
      .map((c) => ({ ...c, reason: `not among the ${maxClients} largest '${by}' groups (maxClients)` })),
  };
}
