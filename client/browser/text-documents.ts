/**
 * A text a person gives the browser client (a file they picked, or the bundled sample) as documents: its
 * paragraphs, or equal pieces when it has too few paragraphs to hold some out for validation. The same rule
 * as `fedpeft join --data file:<path>` (client/data-spec.ts, which reads files and so cannot be bundled), so
 * one file gives the same documents in a browser and in Node.
 */
import { FedpeftError } from '../../shared/errors.ts';
import { normalizeText } from '../../shared/data/normalize-text.ts';
import type { TextDocument } from '../../shared/data/text-document.ts';

/** A text shorter than this many paragraphs is cut into equal pieces so it still has held-out documents. */
const MIN_PARAGRAPHS = 5;
const PIECES = 10;

export function textDocuments(label: string, text: string): TextDocument[] {
  const normalized = normalizeText(text).trim();
  if (normalized.length === 0) {
    throw new FedpeftError('INVALID_DATA_SPEC', `${label} is empty; the client needs some text to train on`);
  }
  let pieces = normalized.split(/\n\s*\n/).filter((p) => p.trim() !== '');
  if (pieces.length < MIN_PARAGRAPHS) {
    const size = Math.ceil(normalized.length / PIECES);
    pieces = Array.from({ length: Math.ceil(normalized.length / size) }, (_, i) =>
      normalized.slice(i * size, (i + 1) * size),
    );
  }
  return pieces.map((p, i) => ({ id: `${label}#${i}`, text: p, attributes: {} }));
}
