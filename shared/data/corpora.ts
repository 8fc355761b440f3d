/**
 * One entry point for the shipped corpora by name. Node-only (every loader reads package files with fs);
 * browser code receives documents from elsewhere and uses the partitioners and batchers directly.
 */
import { FedpeftError } from '../errors.ts';
import { loadMobyDickCorpus } from './moby-dick-corpus.ts';
import { loadSotuCorpus } from './sotu-corpus.ts';
import { loadSpamCorpus } from './spam-corpus.ts';
import { CORPUS_NAMES, type Corpus, type CorpusName } from './text-document.ts';

const LOADERS: Readonly<Record<CorpusName, () => Corpus>> = {
  sotu: loadSotuCorpus,
  spam: loadSpamCorpus,
  'moby-dick': loadMobyDickCorpus,
};

export function isCorpusName(name: string): name is CorpusName {
  return (CORPUS_NAMES as readonly string[]).includes(name);
}

/** Loads (and caches in-process) a corpus; unknown names get an error listing the valid ones. */
export function loadCorpus(name: string): Corpus {
  if (!isCorpusName(name))
    throw new FedpeftError(
      'UNKNOWN_DATASET',
      `unknown dataset '${name}'; choose one of: ${CORPUS_NAMES.join(', ')}`,
    );
  return LOADERS[name]();
}
