/** Small deterministic text corpora for the client end-to-end tests. */
import { Rng } from '../../shared/tensor/rng.ts';
import type { TextDocument } from '../../shared/data/text-document.ts';

/** Synthetic documents whose word distribution depends on the seed (clients are non-IID). */
export function syntheticDocuments(seed: number, count = 6): TextDocument[] {
  const rng = new Rng(seed);
  const words = [
    'round',
    'client',
    'adapter',
    'shared',
    'private',
    'global',
    'local',
    'update',
    'token',
    'frozen',
  ];
  const bias = words.slice(0, 3 + (seed % 5));
  return Array.from({ length: count }, (_, i) => ({
    id: `doc-${i}`,
    text: Array.from({ length: 80 + rng.int(40) }, () => bias[rng.int(bias.length)]).join(' '),
    attributes: {},
  }));
}
