/**
 * The unit every loader, partitioner and batcher works with: one document (a speech, an email, a chapter).
 * Splits and partitions are always by whole document, so no text of a validation or test document can leak
 * into training through a window that straddles a split boundary.
 */

/** The corpora fedpeft ships loaders for (all read from installed npm packages, no network). */
export const CORPUS_NAMES = ['sotu', 'spam', 'moby-dick'] as const;
export type CorpusName = (typeof CORPUS_NAMES)[number];

export interface TextDocument {
  /** Unique within its corpus and stable across runs (partitions and reports refer to documents by it). */
  readonly id: string;
  /** Cleaned, NFC-normalized text with `\n` line endings. */
  readonly text: string;
  /** String-valued metadata used for natural partitions and labels (`president`, `party`, `group`, `label`). */
  readonly attributes: Readonly<Record<string, string>>;
}

export interface Corpus {
  readonly name: CorpusName;
  readonly description: string;
  /** In the package's own order (SOTU chronological, emails by group then id, chapters in book order). */
  readonly documents: readonly TextDocument[];
  /** Attributes that define natural clients (`president`, `party` for SOTU; `group` for spam). */
  readonly naturalAttributes: readonly string[];
  /** The attribute that is the class label for label-skew partitions and classifiers, if the corpus has one. */
  readonly labelAttribute?: string;
}
