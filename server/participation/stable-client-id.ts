/**
 * The stable client id the sampler and eligibility hook see: `Join.client_name`, which a client keeps
 * across reconnects, restarts and new sessions (session ids are random per session, so sampling by them
 * would give different participants for the same fleet).
 *
 * - An empty name gets a session-derived id `#<session id>`; such ids sort after every named one.
 * - A name is held by the oldest session that uses it (sessions are kept in creation order, restored in the
 *   same order); a later session with the same name gets `<name>#<session id>`, which also sorts after the
 *   named ones. Reproducibility is only promised for unique names (docs/protocol.md).
 */

/** Marks an id that is derived from a session id (unnamed or duplicate name). */
const DERIVED = '#';

export function isSessionDerivedId(id: string): boolean {
  return id.includes(DERIVED);
}

/** Named ids first (code-unit order), then session-derived ones (code-unit order). */
export function compareStableIds(a: string, b: string): number {
  const da = isSessionDerivedId(a);
  const db = isSessionDerivedId(b);
  if (da !== db) return da ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Stable ids for sessions listed in creation order: `name`, or `#<session id>` for an empty name, or
 * `<name>#<session id>` for a later holder of a name already taken. A name containing `#` is treated as
 * derived (it sorts with the derived ids), so a client cannot pose as another's session-derived id order.
 */
export function assignStableIds(
  sessions: Iterable<{ sessionId: string; clientName: string }>,
): Map<string, string> {
  const taken = new Set<string>();
  const out = new Map<string, string>();
  for (const { sessionId, clientName } of sessions) {
    let id: string;
    if (clientName === '') id = `${DERIVED}${sessionId}`;
    else if (taken.has(clientName)) id = `${clientName}${DERIVED}${sessionId}`;
    else id = clientName;
    // A chosen name may equal another session's derived id: append the session id until it is unique.
    while (taken.has(id)) id = `${id}${DERIVED}${sessionId}`;
    taken.add(id);
    out.set(sessionId, id);
  }
  return out;
}
