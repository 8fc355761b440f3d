/**
 * Tokenizers: text <-> token ids. `byte` (UTF-8 bytes, vocabulary 256) is the default: it needs no vocabulary
 * file, every string round-trips, and bits-per-byte is simply loss / ln 2. `gpt2` is GPT-2's byte-level BPE
 * (the r50k_base encoding, 50257 ids) from the `gpt-tokenizer` package, for GPT-2 checkpoints.
 */
import * as r50k from 'gpt-tokenizer/encoding/r50k_base';
import { FedpeftError } from '../errors.ts';

export interface Tokenizer {
  readonly name: string;
  readonly vocabSize: number;
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
}

export const TOKENIZER_NAMES = ['byte', 'gpt2'] as const;
export type TokenizerName = (typeof TOKENIZER_NAMES)[number];

const utf8Encoder = new TextEncoder();
// Not fatal: a sampled byte sequence may be invalid UTF-8; it decodes with U+FFFD rather than throwing.
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

export const byteTokenizer: Tokenizer = {
  name: 'byte',
  vocabSize: 256,
  encode: (text) => Array.from(utf8Encoder.encode(text)),
  decode(ids) {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id > 255)
        throw new Error(`byte tokenizer: id ${id} is not a byte`);
    }
    return utf8Decoder.decode(Uint8Array.from(ids));
  },
};

/** GPT-2's end-of-text token id. */
export const GPT2_END_OF_TEXT = 50256;

export const gpt2Tokenizer: Tokenizer = {
  name: 'gpt2',
  vocabSize: r50k.vocabularySize,
  // Corpus text that happens to contain "<|endoftext|>" is encoded as ordinary text, never as the control
  // token: data must not be able to inject special tokens (and gpt-tokenizer would otherwise throw).
  encode: (text) => r50k.encode(text, { disallowedSpecial: new Set() }),
  decode(ids) {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= r50k.vocabularySize) {
        throw new Error(`gpt2 tokenizer: id ${id} is outside 0..${r50k.vocabularySize - 1}`);
      }
    }
    return r50k.decode(ids as number[]);
  },
};

export function createTokenizer(name: string): Tokenizer {
  switch (name) {
    case 'byte':
      return byteTokenizer;
    case 'gpt2':
      return gpt2Tokenizer;
    default:
      throw new FedpeftError(
        'UNKNOWN_TOKENIZER',
        `Unknown tokenizer '${name}'. Valid tokenizers: ${TOKENIZER_NAMES.join(', ')}.`,
      );
  }
}
