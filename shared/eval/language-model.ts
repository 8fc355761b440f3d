/**
 * Language-model evaluation: token-weighted mean cross-entropy over batches and the numbers people compare.
 * Bits per byte is the tokenizer-independent one: for the byte tokenizer it is `loss / ln 2`; for BPE pass the
 * corpus's bytes per token so `bits/byte = loss / ln 2 / bytesPerToken`.
 */
import { tf } from '../tensor/tf.ts';
import type { AdaptableModel, Batch } from '../model/types.ts';

export interface LanguageModelMetrics {
  /** Mean cross-entropy, nats per token. */
  loss: number;
  /** `exp(loss)`. */
  perplexity: number;
  bitsPerByte: number;
  /** Number of target tokens evaluated. */
  tokens: number;
}

export interface EvaluateOptions {
  /** Average UTF-8 bytes per token of the evaluated text. Default 1 (byte tokenizer). */
  bytesPerToken?: number;
}

export function evaluateLanguageModel(
  model: AdaptableModel,
  batches: Iterable<Batch>,
  options: EvaluateOptions = {},
): LanguageModelMetrics {
  const bytesPerToken = options.bytesPerToken ?? 1;
  if (!(bytesPerToken > 0)) throw new Error(`bytesPerToken must be > 0, got ${bytesPerToken}`);
  let totalNats = 0;
  let tokens = 0;
  for (const batch of batches) {
    const loss = tf.tidy(() => model.loss(batch));
    const n = batch.targets.size;
    totalNats += (loss.dataSync()[0] as number) * n;
    loss.dispose();
    tokens += n;
  }
  if (tokens === 0) throw new Error('evaluateLanguageModel: no tokens to evaluate (empty batches)');
  return languageModelMetrics(totalNats / tokens, tokens, bytesPerToken);
}

/**
 * `evaluateLanguageModel` reading each batch's loss asynchronously (browser GPU backends, where a synchronous
 * read blocks the page or fails; see shared/train/train-step.ts).
 */
export async function evaluateLanguageModelAsync(
  model: AdaptableModel,
  batches: Iterable<Batch>,
  options: EvaluateOptions = {},
): Promise<LanguageModelMetrics> {
  const bytesPerToken = options.bytesPerToken ?? 1;
  if (!(bytesPerToken > 0)) throw new Error(`bytesPerToken must be > 0, got ${bytesPerToken}`);
  let totalNats = 0;
  let tokens = 0;
  for (const batch of batches) {
    const loss = tf.tidy(() => model.loss(batch));
    const n = batch.targets.size;
    try {
      totalNats += ((await loss.data())[0] as number) * n;
    } finally {
      loss.dispose();
    }
    tokens += n;
  }
  if (tokens === 0) throw new Error('evaluateLanguageModel: no tokens to evaluate (empty batches)');
  return languageModelMetrics(totalNats / tokens, tokens, bytesPerToken);
}

/** The derived numbers for a known mean loss. */
export function languageModelMetrics(loss: number, tokens: number, bytesPerToken = 1): LanguageModelMetrics {
  return { loss, perplexity: Math.exp(loss), bitsPerByte: loss / Math.LN2 / bytesPerToken, tokens };
}
