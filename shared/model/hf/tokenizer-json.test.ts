import { describe, expect, it } from 'vitest';
import { tokenizerFromJson } from './tokenizer-json.ts';
import { byteBpeTokenizerJson } from './testing/byte-bpe-tokenizer.ts';

// 'Ġ' is the byte-level character of the space byte (0x20).
const MERGES: [string, string][] = [
  ['t', 'h'],
  ['th', 'e'],
  ['Ġ', 'the'],
  ['e', 'r'],
];
const byte = (c: string) => c.charCodeAt(0);

describe('tokenizer.json (byte-level BPE)', () => {
  it('applies merges by rank inside each pre-token and maps bytes through the byte table', () => {
    const tok = tokenizerFromJson(byteBpeTokenizerJson(MERGES));
    // "the" -> th (256) + e -> the (257); " the" -> Ġthe (258); "other": o, the, r (not "er": 'the' wins first).
    expect(tok.encode('the the')).toEqual([257, 258]);
    expect(tok.encode('other')).toEqual([byte('o'), 257, byte('r')]);
    expect(tok.encode('her')).toEqual([byte('h'), 259]);
    expect(tok.vocabSize).toBe(261);
  });

  it('round-trips arbitrary text, multi-byte characters included, through decode', () => {
    const tok = tokenizerFromJson(byteBpeTokenizerJson(MERGES));
    for (const text of ['the weather, there!', 'naïve café — 東京 🙂', '  two  spaces\n\nand lines'])
      expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it('never produces special tokens from text, but decodes them', () => {
    const tok = tokenizerFromJson(byteBpeTokenizerJson(MERGES));
    const ids = tok.encode('a<|endoftext|>b');
    expect(ids).not.toContain(260);
    expect(tok.decode([257, 260])).toBe('the<|endoftext|>');
  });

  it('splits on a Split regex with a (?i:) group and Digits, as Llama 3 / SmolLM2 configure it', () => {
    const tok = tokenizerFromJson(
      byteBpeTokenizerJson(MERGES, {
        preTokenizer: {
          type: 'Sequence',
          pretokenizers: [
            { type: 'Digits', individual_digits: true },
            {
              type: 'Split',
              pattern: {
                Regex: "(?i:'s|'t)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+|\\s+",
              },
              behavior: 'Isolated',
              invert: false,
            },
            { type: 'ByteLevel', add_prefix_space: false, use_regex: false },
          ],
        },
      }),
    );
    // Digits are single tokens; "'S" is matched case-insensitively as one piece.
    expect(tok.encode('12')).toEqual([byte('1'), byte('2')]);
    expect(tok.encode("IT'S")).toEqual([byte('I'), byte('T'), byte("'"), byte('S')]);
    expect(tok.decode(tok.encode("IT'S the 42"))).toBe("IT'S the 42");
  });

  it('ignore_merges takes a whole word from the vocabulary first', () => {
    const json = byteBpeTokenizerJson([...MERGES, ['o', 'the']], { ignoreMerges: true });
    // Without the word in the vocabulary, merges run: o + the -> "othe" (260), then r.
    expect(tokenizerFromJson(json).encode('other')).toEqual([260, byte('r')]);
    (json.model as { vocab: Record<string, number> }).vocab.other = 999;
    expect(tokenizerFromJson(json).encode('other')).toEqual([999]);
  });

  it('refuses tokenizers it does not implement, naming the part', () => {
    const json = byteBpeTokenizerJson(MERGES);
    expect(() => tokenizerFromJson({ ...json, model: { type: 'Unigram' } })).toThrow(/model type "Unigram"/);
    expect(() => tokenizerFromJson({ ...json, pre_tokenizer: { type: 'Metaspace' } })).toThrow(
      /pre_tokenizer "Metaspace"/,
    );
    expect(() => tokenizerFromJson({ ...json, normalizer: { type: 'Lowercase' } })).toThrow(/normalizer/);
  });
});
