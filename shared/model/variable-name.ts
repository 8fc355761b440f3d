/**
 * Unique names for tfjs Variables.
 *
 * tfjs keeps one global registry of variables by name and throws when a second variable takes a name that is
 * still registered. Layer names (`layers.0.attn.q`) repeat across model instances — a global model and a
 * client's copy in one process, a checkpoint loaded beside the live model — so the first instance gets the
 * plain name and later ones a `#n` suffix. Variable names are therefore not stable identifiers; stable names
 * come from `AdaptableModel.parameters()` keys.
 */
import { tf } from '../tensor/tf.ts';

export function uniqueVariableName(base: string): string {
  const registered = tf.engine().registeredVariables;
  if (!(base in registered)) return base;
  for (let i = 2; ; i++) {
    const candidate = `${base}#${i}`;
    if (!(candidate in registered)) return candidate;
  }
}
