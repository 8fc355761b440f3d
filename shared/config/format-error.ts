/**
 * Turns a zod error into lines a person can act on: the path of the offending field, what was wrong and,
 * where zod knows it, what was expected. `clients.0.rank: expected a number, got "eight"`.
 */
import type { ZodError } from 'zod';

export function formatZodError(error: ZodError, source?: string): string {
  const prefix = source ? `${source}: ` : '';
  return error.issues
    .map((issue) => {
      const path = issue.path.length ? issue.path.map(String).join('.') : '(top level)';
      return `  ${prefix}${path}: ${issue.message}`;
    })
    .join('\n');
}
