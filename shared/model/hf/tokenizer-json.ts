/**
 * A Hugging Face `tokenizer.json` (the `tokenizers` library's format) for the byte-level BPE tokenizers of the
 * families fedpeft loads: GPT-2, SmolLM2, Llama 3, Qwen2. Written from the format's documentation, since
 * `@huggingface/tokenizers` is not installed here. Supported pieces, each refused by name otherwise:
 *
 * - normalizer: none or NFC;
 * - pre_tokenizer: `ByteLevel` (GPT-2's split regex when `use_regex`), `Split` on a regex with `Isolated`
 *   behaviour, `Digits`, and `Sequence`s of those;
 * - model: `BPE` with `vocab` and `merges` (`"a b"` strings or `[a, b]` pairs), `ignore_merges`;
 * - decoder: byte-level (GPT-2's byte <-> unicode table).
 *
 * Added/special tokens are never produced from text: corpus text that spells `<|endoftext|>` is encoded as
 * ordinary text, so data cannot inject control tokens. They decode to their content.
 */
import { FedpeftError } from '../../errors.ts';
import type { Tokenizer } from '../tokenizer.ts';

/** GPT-2's reversible byte -> printable character table (`bytes_to_unicode`). */
function byteTable(): string[] {
  const printable = new Set<number>();
  for (let b = 33; b <= 126; b++) printable.add(b);
  for (let b = 161; b <= 172; b++) printable.add(b);
  for (let b = 174; b <= 255; b++) printable.add(b);
  const table: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) table.push(String.fromCodePoint(printable.has(b) ? b : 256 + extra++));
  return table;
}
const BYTE_TO_CHAR = byteTable();
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((ch, b) => [ch, b]));

/** GPT-2's pre-tokenization regex (ByteLevel with `use_regex: true`). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

function invalid(source: string, message: string): FedpeftError {
  return new FedpeftError('INVALID_TOKENIZER', `${source}: ${message}`);
}

/**
 * A Rust-regex pattern as a JavaScript one. The only construct these tokenizers use that JS (Node 20) lacks is
 * the case-insensitive group `(?i:...)` (Llama 3, Qwen2): rewritten with each ASCII letter as `[xX]`.
 */
export function jsRegex(pattern: string, source: string): RegExp {
  const rewritten = pattern.replace(
    /\(\?i:([^()]*)\)/g,
    (_, body: string) => `(?:${body.replace(/[a-zA-Z]/g, (c) => `[${c.toLowerCase()}${c.toUpperCase()}]`)})`,
  );
  try {
    return new RegExp(rewritten, 'gu');
  } catch (err) {
    throw invalid(
      source,
      `Split regex ${JSON.stringify(pattern)} is not supported (${(err as Error).message})`,
    );
  }
}

type PreTokenize = (pieces: string[]) => string[];

function splitAll(pieces: string[], regex: RegExp): string[] {
  const out: string[] = [];
  for (const p of pieces) for (const m of p.matchAll(regex)) if (m[0].length > 0) out.push(m[0]);
  return out;
}

function preTokenizer(spec: unknown, source: string): { split: PreTokenize; prefixSpace: boolean } {
  if (spec === null || spec === undefined) return { split: (p) => p, prefixSpace: false };
  const s = spec as Record<string, unknown>;
  switch (s.type) {
    case 'Sequence': {
      const parts = ((s.pretokenizers as unknown[]) ?? []).map((p) => preTokenizer(p, source));
      return {
        split: (pieces) => parts.reduce((acc, part) => part.split(acc), pieces),
        prefixSpace: parts.some((p) => p.prefixSpace),
      };
    }
    case 'ByteLevel':
      return {
        split: s.use_regex === false ? (p) => p : (p) => splitAll(p, GPT2_SPLIT),
        prefixSpace: s.add_prefix_space === true,
      };
    case 'Split': {
      const pattern = s.pattern as { Regex?: string; String?: string } | undefined;
      if (s.behavior !== 'Isolated' || s.invert === true)
        throw invalid(
          source,
          `Split behaviour ${JSON.stringify(s.behavior)} is not supported (only Isolated)`,
        );
      const regex =
        pattern?.Regex !== undefined
          ? jsRegex(pattern.Regex, source)
          : new RegExp((pattern?.String ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu');
      // Isolated: matches and the text between them all become pieces.
      return {
        split: (pieces) =>
          pieces.flatMap((p) => {
            const out: string[] = [];
            let at = 0;
            for (const m of p.matchAll(regex)) {
              if (m.index > at) out.push(p.slice(at, m.index));
              if (m[0].length > 0) out.push(m[0]);
              at = m.index + m[0].length;
            }
            if (at < p.length) out.push(p.slice(at));
            return out;
          }),
        prefixSpace: false,
      };
    }
    case 'Digits':
      return {
        split: (pieces) => splitAll(pieces, s.individual_digits ? /\p{N}|[^\p{N}]+/gu : /\p{N}+|[^\p{N}]+/gu),
        prefixSpace: false,
      };
    default:
      throw invalid(source, `pre_tokenizer ${JSON.stringify(s.type)} is not supported`);
  }
}

/** Parses a `tokenizer.json` object into a fedpeft Tokenizer. */
export function tokenizerFromJson(json: unknown, source = 'tokenizer.json'): Tokenizer {
  const t = json as Record<string, unknown> | null;
  if (typeof t !== 'object' || t === null) throw invalid(source, 'must be a JSON object');
  const model = t.model as Record<string, unknown> | undefined;
  if (model?.type !== 'BPE')
    throw invalid(source, `model type ${JSON.stringify(model?.type)} is not supported (byte-level BPE only)`);
  const normalizer = t.normalizer as { type?: string } | null | undefined;
  if (normalizer && normalizer.type !== 'NFC')
    throw invalid(source, `normalizer ${JSON.stringify(normalizer.type)} is not supported (none or NFC)`);
  const decoder = t.decoder as { type?: string } | null | undefined;
  if (decoder && decoder.type !== 'ByteLevel')
    throw invalid(source, `decoder ${JSON.stringify(decoder.type)} is not supported (ByteLevel only)`);
  const { split, prefixSpace } = preTokenizer(t.pre_tokenizer, source);
  const vocab = new Map(Object.entries((model.vocab as Record<string, number>) ?? {}));
  const ranks = new Map<string, number>();
  ((model.merges as unknown[]) ?? []).forEach((m, i) => {
    const pair = typeof m === 'string' ? m.split(' ') : (m as string[]);
    if (pair.length !== 2) throw invalid(source, `merge ${i} is not a pair: ${JSON.stringify(m)}`);
    ranks.set(`${pair[0]} ${pair[1]}`, i);
  });
  const ignoreMerges = model.ignore_merges === true;
  const idToToken = new Map<number, string>();
  for (const [tok, id] of vocab) idToToken.set(id, tok);
  const added = new Map<number, string>();
  for (const a of (t.added_tokens as { id: number; content: string }[] | undefined) ?? [])
    added.set(a.id, a.content);
  const vocabSize = Math.max(...vocab.values(), ...added.keys()) + 1;
  const cache = new Map<string, number[]>();

  const bpe = (word: string): number[] => {
    const hit = cache.get(word);
    if (hit) return hit;
    let ids: number[];
    if (ignoreMerges && vocab.has(word)) ids = [vocab.get(word)!];
    else {
      let symbols = [...word];
      for (;;) {
        let best = -1;
        let bestRank = Infinity;
        for (let i = 0; i + 1 < symbols.length; i++) {
          const r = ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
          if (r !== undefined && r < bestRank) [best, bestRank] = [i, r];
        }
        if (best < 0) break;
        symbols = [
          ...symbols.slice(0, best),
          symbols[best]! + symbols[best + 1]!,
          ...symbols.slice(best + 2),
        ];
      }
      ids = symbols.map((s) => {
        const id = vocab.get(s);
        if (id === undefined) throw invalid(source, `symbol ${JSON.stringify(s)} is not in the vocabulary`);
        return id;
      });
    }
    if (cache.size < 100_000) cache.set(word, ids);
    return ids;
  };
  const utf8 = new TextEncoder();
  return {
    name: 'tokenizer.json',
    vocabSize,
    encode(text: string): number[] {
      let s = normalizer ? text.normalize('NFC') : text;
      if (prefixSpace && !s.startsWith(' ')) s = ` ${s}`;
      const out: number[] = [];
      for (const piece of split([s])) {
        const chars = Array.from(utf8.encode(piece), (b) => BYTE_TO_CHAR[b]!).join('');
        out.push(...bpe(chars));
      }
      return out;
    },
    decode(ids: readonly number[]): string {
      const bytes: number[] = [];
      for (const id of ids) {
        const special = added.get(id);
        const tok = idToToken.get(id);
        if (tok === undefined && special === undefined)
          throw new Error(`${source}: id ${id} is not in the vocabulary`);
        // Special tokens (`<|endoftext|>`) are their literal content, not byte-level characters.
        if (special !== undefined && (tok === undefined || tok === special)) {
          bytes.push(...utf8.encode(special));
          continue;
        }
        for (const ch of tok!) {
          const b = CHAR_TO_BYTE.get(ch);
          if (b === undefined) bytes.push(...utf8.encode(ch));
          else bytes.push(b);
        }
      }
      return new TextDecoder('utf-8', { fatal: false }).decode(Uint8Array.from(bytes));
    },
  };
}
