import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GPT2_END_OF_TEXT, createTokenizer } from './tokenizer.ts';

describe('tokenizers', () => {
  it('byte: UTF-8 bytes, vocabulary 256, every string round-trips', () => {
    const t = createTokenizer('byte');
    expect(t.vocabSize).toBe(256);
    expect(t.encode('Aé')).toEqual([65, 0xc3, 0xa9]);
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => t.decode(t.encode(s)) === s));
    expect(t.decode([0xc3])).toBe('\ufffd'); // a cut-off sequence decodes, it does not throw
    expect(() => t.decode([256])).toThrow(/not a byte/);
  });

  it("gpt2: GPT-2's own BPE ids (r50k_base)", () => {
    const t = createTokenizer('gpt2');
    expect(t.vocabSize).toBe(50257);
    // Ids from GPT-2's vocabulary: "Hello" = 15496, " world" = 995.
    expect(t.encode('Hello world')).toEqual([15496, 995]);
    expect(t.decode([15496, 995])).toBe('Hello world');
    expect(t.decode([GPT2_END_OF_TEXT])).toBe('<|endoftext|>');
    // Text that spells a control token is ordinary text, not the control token.
    expect(t.encode('a<|endoftext|>')).not.toContain(GPT2_END_OF_TEXT);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => t.decode(t.encode(s)) === s),
      { numRuns: 50 },
    );
  });

  it('lists the valid names for an unknown one', () => {
    expect(() => createTokenizer('sentencepiece')).toThrow(/Valid tokenizers: byte, gpt2/);
  });
});
