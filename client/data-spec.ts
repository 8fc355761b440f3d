/**
 * Where a client's local data comes from, as one string a person types after `fedpeft join --data`:
 *
 *   sotu:president=Abraham Lincoln   the documents of a shipped corpus whose attribute equals a value
 *   spam:group=easy-ham-1
 *   moby-dick                        a whole shipped corpus
 *   file:./notes.txt                 a local UTF-8 text file
 *
 * Parsing is pure (no corpus is loaded) so a typo fails before any data or model is touched; `resolveDataSpec`
 * then loads the documents and checks that the attribute and value exist, listing the valid ones if not.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FedpeftError } from '../shared/errors.ts';
import { loadCorpus } from '../shared/data/corpora.ts';
import { normalizeText } from '../shared/data/normalize-text.ts';
import { CORPUS_NAMES, type CorpusName, type TextDocument } from '../shared/data/text-document.ts';

export type DataSpec =
  | { kind: 'corpus'; corpus: CorpusName; filter: { attribute: string; value: string } | null }
  | { kind: 'file'; path: string };

/** The one line every malformed spec gets: what was wrong, then every valid form. */
export const DATA_SPEC_FORMS =
  `valid forms: <corpus>:<attribute>=<value> (e.g. 'sotu:president=Abraham Lincoln', 'spam:group=easy-ham-1'), ` +
  `<corpus> (one of ${CORPUS_NAMES.join(', ')}), or file:<path> (e.g. 'file:./notes.txt')`;

function invalidSpec(spec: string, why: string): FedpeftError {
  return new FedpeftError(
    'INVALID_DATA_SPEC',
    `invalid data spec ${JSON.stringify(spec)}: ${why}; ${DATA_SPEC_FORMS}`,
  );
}

export function parseDataSpec(spec: string): DataSpec {
  const trimmed = spec.trim();
  if (trimmed === '') throw invalidSpec(spec, 'it is empty');
  const colon = trimmed.indexOf(':');
  const head = colon < 0 ? trimmed : trimmed.slice(0, colon);
  const rest = colon < 0 ? null : trimmed.slice(colon + 1);
  if (head === 'file') {
    if (!rest || rest.trim() === '') throw invalidSpec(spec, "'file:' needs a path");
    return { kind: 'file', path: rest.trim() };
  }
  if (!(CORPUS_NAMES as readonly string[]).includes(head)) {
    throw invalidSpec(spec, `'${head}' is neither a corpus nor 'file'`);
  }
  const corpus = head as CorpusName;
  if (rest === null) return { kind: 'corpus', corpus, filter: null };
  const eq = rest.indexOf('=');
  if (eq < 0) throw invalidSpec(spec, `'${rest}' is not of the form <attribute>=<value>`);
  const attribute = rest.slice(0, eq).trim();
  const value = rest.slice(eq + 1).trim();
  if (attribute === '' || value === '')
    throw invalidSpec(spec, 'both the attribute and the value must be non-empty');
  return { kind: 'corpus', corpus, filter: { attribute, value } };
}

/** The canonical text of a parsed spec (stable across whitespace variants; used to seed the local split). */
export function formatDataSpec(spec: DataSpec): string {
  if (spec.kind === 'file') return `file:${spec.path}`;
  return spec.filter ? `${spec.corpus}:${spec.filter.attribute}=${spec.filter.value}` : spec.corpus;
}

/** A file shorter than this many paragraphs is cut into equal pieces so it still has held-out documents. */
const MIN_FILE_PARAGRAPHS = 5;
const FILE_PIECES = 10;

/** A local text file as documents: its paragraphs, or equal pieces when it has too few paragraphs. */
export function fileDocuments(path: string, text: string): TextDocument[] {
  const normalized = normalizeText(text).trim();
  if (normalized.length === 0)
    throw new FedpeftError('INVALID_DATA_SPEC', `${path} is empty; a client needs some text to train on`);
  let pieces = normalized.split(/\n\s*\n/).filter((p) => p.trim() !== '');
  if (pieces.length < MIN_FILE_PARAGRAPHS) {
    const size = Math.ceil(normalized.length / FILE_PIECES);
    pieces = Array.from({ length: Math.ceil(normalized.length / size) }, (_, i) =>
      normalized.slice(i * size, (i + 1) * size),
    );
  }
  return pieces.map((p, i) => ({ id: `${path}#${i}`, text: p, attributes: {} }));
}

/** Loads the documents a spec names (Node: reads corpora and files). */
export function resolveDataSpec(spec: DataSpec): TextDocument[] {
  if (spec.kind === 'file') {
    const path = resolve(spec.path);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new FedpeftError('INVALID_DATA_SPEC', `cannot read data file ${path}: ${(err as Error).message}`);
    }
    return fileDocuments(spec.path, text);
  }
  const corpus = loadCorpus(spec.corpus);
  if (!spec.filter) return [...corpus.documents];
  const { attribute, value } = spec.filter;
  const known = new Set(corpus.documents.flatMap((d) => Object.keys(d.attributes)));
  if (!known.has(attribute)) {
    throw new FedpeftError(
      'INVALID_DATA_SPEC',
      `${spec.corpus} documents have no attribute '${attribute}'; attributes: ${[...known].join(', ')}`,
    );
  }
  const selected = corpus.documents.filter((d) => d.attributes[attribute] === value);
  if (selected.length === 0) {
    const values = [...new Set(corpus.documents.map((d) => d.attributes[attribute] ?? ''))];
    const shown =
      values.slice(0, 12).join(', ') + (values.length > 12 ? `, ... (${values.length} in all)` : '');
    throw new FedpeftError(
      'INVALID_DATA_SPEC',
      `no ${spec.corpus} document has ${attribute}=${JSON.stringify(value)}; values: ${shown}`,
    );
  }
  return selected;
}
