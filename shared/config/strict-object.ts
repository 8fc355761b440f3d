/**
 * `strictObject(shape)`: a zod object that rejects every key it does not declare, with a message per unknown
 * key that suggests the allowed key it most likely meant. Every user-written config object is built with it,
 * so `round.deadlinems` fails instead of silently running with the default deadline.
 *
 * zod reports all unknown keys of one object in a single `unrecognized_keys` issue; the message holds one
 * line per key, in the order of `issue.keys`, and `formatZodError` turns each into its own
 * `path.to.key: message` line.
 */
import { z } from 'zod';
import { unknownKeyMessage } from './did-you-mean.ts';

export function strictObject<Shape extends z.core.$ZodLooseShape>(shape: Shape) {
  const allowed = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => unknownKeyMessage(key, allowed)).join('\n')
        : undefined,
  });
}
