/**
 * Tokenizer files for fedpeft's byte tokenizer (id = UTF-8 byte value, vocabulary 256) in the `tokenizers`
 * library's format: a BPE model with no merges over GPT-2's byte-to-unicode alphabet, behind a ByteLevel
 * pre-tokenizer/decoder, so `PreTrainedTokenizerFast` maps every byte to its own value and back.
 */

/** GPT-2's reversible byte -> printable unicode character table (bytes_to_unicode in its encoder.py). */
function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const table: string[] = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + extra++);
  }
  return table;
}

export function byteTokenizerFiles(contextLength: number): Record<string, string> {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((ch, id) => {
    vocab[ch] = id;
  });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: null,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: [],
    },
  };
  const config = { tokenizer_class: 'PreTrainedTokenizerFast', model_max_length: contextLength };
  return {
    'tokenizer.json': `${JSON.stringify(tokenizer)}\n`,
    'tokenizer_config.json': `${JSON.stringify(config, null, 2)}\n`,
  };
}
