/**
 * The tokenizer a base model's text goes through: fedpeft's byte tokenizer for vocabulary-256 models, the
 * base folder's own `tokenizer.json` when it has one, GPT-2's BPE for a 50257-token GPT-2 without one. A model
 * with another vocabulary and no tokenizer file is refused: byte ids would train it on nonsense silently.
 */
import { readFile } from 'node:fs/promises';
import { FedpeftError } from '../../errors.ts';
import { byteTokenizer, gpt2Tokenizer, type Tokenizer } from '../tokenizer.ts';
import { tokenizerFromJson } from './tokenizer-json.ts';

export async function baseTokenizer(
  vocabSize: number,
  tokenizerFile: string | null,
  baseName: string,
): Promise<Tokenizer> {
  if (tokenizerFile !== null) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(tokenizerFile, 'utf8'));
    } catch (err) {
      throw new FedpeftError('INVALID_TOKENIZER', `${tokenizerFile}: ${(err as Error).message}`);
    }
    const tokenizer = tokenizerFromJson(json, tokenizerFile);
    if (tokenizer.vocabSize > vocabSize) {
      throw new FedpeftError(
        'INVALID_TOKENIZER',
        `${tokenizerFile} has ${tokenizer.vocabSize} tokens but the model ${baseName} only ${vocabSize}`,
      );
    }
    return tokenizer;
  }
  if (vocabSize === 256) return byteTokenizer;
  if (vocabSize === gpt2Tokenizer.vocabSize) return gpt2Tokenizer;
  throw new FedpeftError(
    'NO_TOKENIZER',
    `${baseName} has a ${vocabSize}-token vocabulary and no tokenizer.json; put the model's tokenizer.json in its folder`,
  );
}
