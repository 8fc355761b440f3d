import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../tensor/tf.ts';
import { useBackend } from '../tensor/backend.ts';
import type { AdaptableModel, Batch } from '../model/types.ts';
import { Gpt } from '../model/gpt.ts';
import { evaluateLanguageModel, languageModelMetrics } from './language-model.ts';

beforeAll(async () => {
  await useBackend('cpu');
});

/** A model whose loss per batch is fixed, to check the token weighting by hand. */
function fixedLossModel(losses: number[]): AdaptableModel {
  let i = 0;
  return { loss: () => tf.scalar(losses[i++]!) } as unknown as AdaptableModel;
}

function batch(rows: number, time: number): Batch {
  return { inputs: tf.zeros([rows, time], 'int32'), targets: tf.zeros([rows, time], 'int32') };
}

describe('evaluateLanguageModel', () => {
  it('weights batch losses by their token counts and derives perplexity and bits per byte', () => {
    const batches = [batch(1, 2), batch(2, 3)]; // 2 and 6 tokens
    const m = evaluateLanguageModel(fixedLossModel([1, 3]), batches);
    expect(m.tokens).toBe(8);
    expect(m.loss).toBeCloseTo((1 * 2 + 3 * 6) / 8, 12);
    expect(m.perplexity).toBeCloseTo(Math.exp(2.5), 10);
    expect(m.bitsPerByte).toBeCloseTo(2.5 / Math.LN2, 12);
    // BPE: 4 bytes per token divides bits per byte by 4.
    expect(
      evaluateLanguageModel(fixedLossModel([1, 3]), batches, { bytesPerToken: 4 }).bitsPerByte,
    ).toBeCloseTo(2.5 / Math.LN2 / 4, 12);
    tf.dispose(batches.flatMap((b) => [b.inputs, b.targets]));
  });

  it('gives ln(vocab) nats / log2(256) = 8 bits per byte for a uniform byte model, without leaking', () => {
    const model = new Gpt(
      { vocabSize: 256, contextLength: 8, dModel: 8, layers: 1, heads: 2, initStd: 1e-6 },
      { seed: 1 },
    );
    const batches = [batch(2, 8)];
    evaluateLanguageModel(model, batches); // warms the model's caches (causal mask, frozen kernel transposes)
    const before = tf.memory().numTensors;
    const m = evaluateLanguageModel(model, batches);
    expect(tf.memory().numTensors).toBe(before);
    expect(m.loss).toBeCloseTo(Math.log(256), 4);
    expect(m.bitsPerByte).toBeCloseTo(8, 3);
    tf.dispose(batches.flatMap((b) => [b.inputs, b.targets]));
    model.dispose();
  });

  it('refuses to average nothing', () => {
    expect(() => evaluateLanguageModel(fixedLossModel([]), [])).toThrow(/no tokens/);
    expect(languageModelMetrics(Math.LN2, 10).bitsPerByte).toBe(1);
  });
});
