/**
 * A small byte-level BPE `tokenizer.json` for tests, in the layout `tokenizers` saves (GPT-2 / SmolLM2 style):
 * the 256 byte characters first (ids 0..255, GPT-2's byte -> unicode table), one token per merge after them,
 * `<|endoftext|>` as an added special token last.
 */
function byteChars(): string[] {
  const printable = new Set<number>();
  for (let b = 33; b <= 126; b++) printable.add(b);
  for (let b = 161; b <= 172; b++) printable.add(b);
  for (let b = 174; b <= 255; b++) printable.add(b);
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable.has(b) ? b : 256 + extra++));
}

export function byteBpeTokenizerJson(
  merges: [string, string][],
  options: { preTokenizer?: unknown; ignoreMerges?: boolean } = {},
): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  byteChars().forEach((ch, id) => {
    vocab[ch] = id;
  });
  let next = 256;
  for (const [a, b] of merges) if (vocab[a + b] === undefined) vocab[a + b] = next++;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: next, content: '<|endoftext|>', special: true }],
    normalizer: null,
    pre_tokenizer: options.preTokenizer ?? { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel' },
    model: {
      type: 'BPE',
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
      ...(options.ignoreMerges ? { ignore_merges: true } : {}),
    },
  };
}
