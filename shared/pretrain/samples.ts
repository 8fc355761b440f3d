/** A few seeded generations from prompts: the quickest way for a person to see what a base model learned. */
import type { Gpt } from '../model/gpt.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import { Rng } from '../tensor/rng.ts';

export interface SampleOptions {
  /** New tokens per prompt. Default 160. */
  maxNew?: number;
  /** Default 0.8. */
  temperature?: number;
  /** Default 40. */
  topK?: number;
  seed?: number;
}

export interface Sample {
  prompt: string;
  completion: string;
}

export function generateSamples(
  model: Gpt,
  tokenizer: Tokenizer,
  prompts: readonly string[],
  options: SampleOptions = {},
): Sample[] {
  const rng = new Rng(options.seed ?? 0);
  return prompts.map((prompt, i) => {
    const ids = model.generate(tokenizer.encode(prompt), options.maxNew ?? 160, {
      temperature: options.temperature ?? 0.8,
      topK: options.topK ?? 40,
      rng: rng.fork(`sample:${i}`),
    });
    return { prompt, completion: tokenizer.decode(ids) };
  });
}
