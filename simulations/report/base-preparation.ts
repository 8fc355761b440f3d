/**
 * The base a simulation fine-tunes, prepared once before its first run: which base it is (its validation
 * perplexity, its cache key) and how long finding or pretraining it took. Reports name it in their header and
 * show its time on its own line, so a first-use pretraining is never charged to the first method of a
 * comparison.
 */
import { formatSeconds } from './format.ts';

export interface PreparedBase {
  /** One line: which base, its validation perplexity, its cache key. */
  description: string;
  /** True when it was pretrained now (a first use), false when read from the cache. */
  pretrainedNow: boolean;
}

export interface BasePreparation extends PreparedBase {
  seconds: number;
}

/** The report header's line about the base. */
export function baseHeaderLine(base: BasePreparation, shared: boolean): string {
  return (
    `**Base**: ${base.description}${shared ? ', the same for every run below' : ''}. Preparing it ` +
    `(${base.pretrainedNow ? 'pretrained now, first use of this base' : 'read from the cache'}) took ` +
    `${formatSeconds(base.seconds)}, reported here and counted in no ${shared ? "method's" : "run's"} time.`
  );
}
