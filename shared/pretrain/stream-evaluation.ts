/**
 * Scoring a model on a held-out token stream with the deterministic evaluation windows (`evalWindows`): the
 * same documents give the same windows for every run and every method, which is what makes before/after
 * numbers and method comparisons meaningful. Batches are created and disposed one at a time.
 */
import type { AdaptableModel, Batch } from '../model/types.ts';
import { disposeBatch, evalBatches, evalWindows } from '../data/lm-batches.ts';
import { evaluateLanguageModel, type LanguageModelMetrics } from '../eval/language-model.ts';

export interface StreamEvaluationOptions {
  contextLength: number;
  /** Evenly spaced subset of the windows (bounded cost on large streams). Default: every window. */
  maxWindows?: number | undefined;
  /** Rows per forward pass. Default 16. */
  batchSize?: number;
}

export function evaluateOnStream(
  model: AdaptableModel,
  stream: Int32Array,
  options: StreamEvaluationOptions,
): LanguageModelMetrics {
  const windows = evalWindows(stream, options.contextLength, options.maxWindows);
  return evaluateLanguageModel(model, disposingEach(evalBatches(stream, windows, options.batchSize ?? 16)));
}

/** Yields each batch and disposes it once the consumer asks for the next one (or stops early). */
function* disposingEach(batches: Iterable<Batch>): Generator<Batch> {
  for (const batch of batches) {
    try {
      yield batch;
    } finally {
      disposeBatch(batch);
    }
  }
}

/**
 * The "learned nothing but byte frequencies" reference: the cross-entropy (bits per token) on `evaluated` of a
 * unigram model fitted to `train`, with add-one smoothing so unseen tokens cost finite bits. A trained LM has
 * to beat it clearly to have learned anything about context.
 */
export function unigramBitsPerToken(train: Int32Array, evaluated: Int32Array, vocabSize = 256): number {
  if (evaluated.length === 0) throw new Error('unigramBitsPerToken: nothing to evaluate');
  const counts = new Float64Array(vocabSize).fill(1);
  for (const t of train) {
    if (t < 0 || t >= vocabSize) throw new Error(`token ${t} is outside the vocabulary 0..${vocabSize - 1}`);
    counts[t] = (counts[t] as number) + 1;
  }
  const total = train.length + vocabSize;
  let bits = 0;
  for (const t of evaluated) bits -= Math.log2((counts[t] as number) / total);
  return bits / evaluated.length;
}
