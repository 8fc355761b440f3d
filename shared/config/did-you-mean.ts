/**
 * "Did you mean `deadlineMs`?" for a mistyped config key: the allowed key closest to the typo by edit distance
 * (optimal string alignment, so a swapped pair of letters counts once), compared case-insensitively first
 * because the commonest typo is the case of one letter (`deadlinems`).
 */

/** Edit distance with adjacent transpositions (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The allowed key a typo most likely meant, or undefined when none is close: at most a third of the key's
 * length in edits (at least 1, at most 3), so `sampling` suggests nothing among `{ rounds, localSteps }`.
 */
export function closestKey(typo: string, allowed: readonly string[]): string | undefined {
  const lower = typo.toLowerCase();
  let best: { key: string; distance: number } | undefined;
  for (const key of allowed) {
    const distance = key.toLowerCase() === lower ? 0 : editDistance(lower, key.toLowerCase());
    if (!best || distance < best.distance) best = { key, distance };
  }
  if (!best) return undefined;
  const limit = Math.min(3, Math.max(1, Math.floor(typo.length / 3)));
  return best.distance <= limit ? best.key : undefined;
}

/** The message for one unknown key: what is wrong and what to write instead. */
export function unknownKeyMessage(typo: string, allowed: readonly string[]): string {
  const suggestion = closestKey(typo, allowed);
  const hint = suggestion ? ` — did you mean \`${suggestion}\`?` : '';
  return `unknown key${hint} (allowed here: ${allowed.join(', ')})`;
}
