/**
 * Turns a zod error into lines a person can act on: the path of the offending field, what was wrong and,
 * where zod knows it, what was expected. `clients.0.rank: expected a number, got "eight"`.
 *
 * An unknown key gets its own line at its full path (`round.deadlinems: unknown key — did you mean
 * \`deadlineMs\`?`); objects built with `strictObject` (strict-object.ts) put one message line per key.
 */
import type { ZodError } from 'zod';

type Issue = ZodError['issues'][number];

function pathText(path: readonly PropertyKey[]): string {
  return path.length ? path.map(String).join('.') : '(top level)';
}

/** One `[path, message]` per problem; an `unrecognized_keys` issue becomes one per key. */
export function issueLines(issue: Issue): [string, string][] {
  if (issue.code === 'unrecognized_keys') {
    const perKey = issue.message.split('\n');
    return issue.keys.map((key, i) => [
      pathText([...issue.path, key]),
      perKey.length === issue.keys.length ? perKey[i]! : 'unknown key',
    ]);
  }
  return [[pathText(issue.path), issue.message]];
}

export function formatZodError(error: ZodError, source?: string): string {
  const prefix = source ? `${source}: ` : '';
  return error.issues
    .flatMap(issueLines)
    .map(([path, message]) => `  ${prefix}${path}: ${message}`)
    .join('\n');
}
