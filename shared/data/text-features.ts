/**
 * Classification features for the spam filter: the hashing trick (Weinberger et al. 2009) over word
 * unigrams+bigrams or byte n-grams, into a fixed `dims`-wide vector, L2-normalized. Hashing needs no
 * vocabulary, so every client featurizes its own mail identically without sharing a word list (which would
 * leak what its users write). A second hash bit gives each n-gram a sign, so collisions cancel in expectation
 * instead of piling up. Counts are dampened (`sign * log(1 + |count|)`) so one repeated word cannot dominate.
 *
 * Tensors: `classificationBatch` and `classificationBatches` return tensors the caller must dispose
 * (`disposeBatch` from lm-batches.ts); `FeatureMatrix` is host memory.
 */
import { z } from 'zod';
import { FedpeftError } from '../errors.ts';
import type { Batch } from '../model/types.ts';
import type { Rng } from '../tensor/rng.ts';
import { tf } from '../tensor/tf.ts';
import type { TextDocument } from './text-document.ts';

export const textFeatureOptionsSchema = z.object({
  /** Feature width F. Default 2048. */
  dims: z
    .number()
    .int()
    .min(2, 'dims must be >= 2')
    .max(1 << 20, 'dims must be <= 1048576')
    .default(2048),
  /** `words`: lower-cased word (and `$`, `!`, `%`) unigrams..n-grams; `bytes`: UTF-8 byte 1..n-grams. Default words. */
  mode: z.enum(['words', 'bytes'], { error: "mode must be 'words' or 'bytes'" }).default('words'),
  /** Longest n-gram. Default 2 (unigrams + bigrams); byte mode typically uses 3 or 4. */
  maxN: z.number().int().min(1, 'maxN must be >= 1').max(8, 'maxN must be <= 8').default(2),
});
export type TextFeatureOptionsInput = z.input<typeof textFeatureOptionsSchema>;
export type TextFeatureOptions = z.output<typeof textFeatureOptionsSchema>;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function fnvStep(h: number, value: number): number {
  return Math.imul(h ^ value, FNV_PRIME) >>> 0;
}

/** murmur3's finalizer: decorrelates the sign bit from the bucket bits of the same FNV hash. */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

const WORD = /[\p{L}\p{N}]+(?:['’]\p{L}+)?|[$!%€£]/gu;

function wordIds(text: string): number[] {
  // Each word is reduced to its own 32-bit hash first; n-grams then hash sequences of word hashes.
  return (text.toLowerCase().match(WORD) ?? []).map((w) => {
    let h = FNV_OFFSET;
    for (let i = 0; i < w.length; i++) h = fnvStep(h, w.charCodeAt(i));
    return h;
  });
}

/** Hashed, signed, dampened, L2-normalized n-gram features of one text (all zeros for an empty text). */
export function hashedTextFeatures(text: string, input: TextFeatureOptionsInput = {}): Float32Array {
  const options = textFeatureOptionsSchema.parse(input);
  return featuresInto(new Float32Array(options.dims), text, options);
}

function featuresInto(out: Float32Array, text: string, options: TextFeatureOptions): Float32Array {
  const units = options.mode === 'words' ? wordIds(text) : Array.from(new TextEncoder().encode(text));
  const dims = options.dims;
  for (let start = 0; start < units.length; start++) {
    let h = fnvStep(FNV_OFFSET, options.mode === 'words' ? 0x57 : 0x42);
    for (let n = 1; n <= options.maxN && start + n <= units.length; n++) {
      h = fnvStep(h, units[start + n - 1] as number);
      const m = mix(h ^ n);
      const bucket = m % dims;
      out[bucket] = (out[bucket] as number) + (m & 0x80000000 ? -1 : 1);
    }
  }
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    const v = out[i] as number;
    const damped = v === 0 ? 0 : Math.sign(v) * Math.log1p(Math.abs(v));
    out[i] = damped;
    norm += damped * damped;
  }
  if (norm > 0) {
    const inv = 1 / Math.sqrt(norm);
    for (let i = 0; i < dims; i++) out[i] = (out[i] as number) * inv;
  }
  return out;
}

/** Row-major features of many texts: row i is `data.subarray(i * dims, (i + 1) * dims)`. */
export interface FeatureMatrix {
  rows: number;
  dims: number;
  data: Float32Array;
}

export function featurizeTexts(texts: readonly string[], input: TextFeatureOptionsInput = {}): FeatureMatrix {
  const options = textFeatureOptionsSchema.parse(input);
  const data = new Float32Array(texts.length * options.dims);
  texts.forEach((t, i) => featuresInto(data.subarray(i * options.dims, (i + 1) * options.dims), t, options));
  return { rows: texts.length, dims: options.dims, data };
}

/** Class ids of documents by a label attribute, in the order of `labels` (spam: `['ham', 'spam']`). */
export function labelIds(
  documents: readonly TextDocument[],
  attribute: string,
  labels: readonly string[],
): Int32Array {
  return Int32Array.from(documents, (doc) => {
    const id = labels.indexOf(doc.attributes[attribute] ?? '');
    if (id < 0)
      throw new FedpeftError(
        'NO_LABEL',
        `document '${doc.id}' has ${attribute}='${doc.attributes[attribute]}', not one of: ${labels.join(', ')}`,
      );
    return id;
  });
}

/** Float32 `[B, F]` features and int32 `[B]` labels of the given rows. Caller disposes. */
export function classificationBatch(
  features: FeatureMatrix,
  labels: Int32Array,
  rows: readonly number[],
): Batch {
  if (labels.length !== features.rows)
    throw new FedpeftError('INVALID_BATCH', `${labels.length} labels for ${features.rows} feature rows`);
  const F = features.dims;
  const x = new Float32Array(rows.length * F);
  const y = new Int32Array(rows.length);
  rows.forEach((r, b) => {
    x.set(features.data.subarray(r * F, (r + 1) * F), b * F);
    y[b] = labels[r] as number;
  });
  return { inputs: tf.tensor2d(x, [rows.length, F], 'float32'), targets: tf.tensor1d(y, 'int32') };
}

/**
 * Shuffled mini-batches over `epochs` passes (each pass a fresh seeded permutation; the last batch of a pass
 * may be smaller). Endless when `epochs` is omitted. Each yielded batch is the caller's to dispose.
 */
export function* classificationBatches(
  features: FeatureMatrix,
  labels: Int32Array,
  options: { batchSize: number; epochs?: number },
  rng: Rng,
): Generator<Batch> {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1)
    throw new FedpeftError('INVALID_BATCH', `batchSize must be a positive integer, got ${options.batchSize}`);
  if (features.rows === 0) throw new FedpeftError('INVALID_BATCH', 'no examples to batch');
  for (let epoch = 0; options.epochs === undefined || epoch < options.epochs; epoch++) {
    const order = rng.permutation(features.rows);
    for (let i = 0; i < order.length; i += options.batchSize)
      yield classificationBatch(features, labels, order.slice(i, i + options.batchSize));
  }
}
