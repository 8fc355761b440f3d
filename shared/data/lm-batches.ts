/**
 * Language-modelling batches over a token stream.
 *
 * Documents are encoded and concatenated (with a separator) into one int32 stream. Training draws random
 * windows of T+1 tokens at uniform seeded offsets and splits each into inputs `[B, T]` and targets `[B, T]`
 * (targets = inputs shifted by one). Evaluation uses a fixed, non-overlapping window set: window k starts at
 * k*T and spans T+1 tokens, so every token after the first is predicted exactly once, with no randomness — the
 * same documents give the same windows in every run and for every method, which is what makes perplexities
 * comparable.
 *
 * Tensors: every `Batch` returned here is owned by the caller, who must dispose `inputs` and `targets`
 * (`disposeBatch`). The streams themselves are host arrays and hold no tensors.
 */
import { FedpeftError } from '../errors.ts';
import type { Batch } from '../model/types.ts';
import type { Rng } from '../tensor/rng.ts';
import { tf } from '../tensor/tf.ts';

/** Any tokenizer: the byte tokenizer below, or one from shared/model/tokenizer.ts. */
export interface TokenEncoder {
  encode(text: string): number[];
}

/** The default tokenizer: UTF-8 bytes, vocabulary 256, no special tokens. */
export const utf8ByteEncoder: TokenEncoder & { readonly vocabSize: 256 } = {
  vocabSize: 256,
  encode(text: string): number[] {
    return Array.from(new TextEncoder().encode(text));
  },
};

export interface TokenStreamOptions {
  /** Default: UTF-8 bytes. */
  encoder?: TokenEncoder;
  /** Text placed between documents so a window that spans two shows a boundary. Default `"\n\n"`. */
  separator?: string;
}

/** Documents encoded and concatenated into one int32 token stream (host memory). */
export function buildTokenStream(texts: readonly string[], options: TokenStreamOptions = {}): Int32Array {
  const encoder = options.encoder ?? utf8ByteEncoder;
  const separator = encoder.encode(options.separator ?? '\n\n');
  const pieces = texts.map((t) => encoder.encode(t));
  const total = pieces.reduce((s, p) => s + p.length, 0) + separator.length * Math.max(0, pieces.length - 1);
  const stream = new Int32Array(total);
  let at = 0;
  pieces.forEach((p, i) => {
    if (i > 0) {
      stream.set(separator, at);
      at += separator.length;
    }
    stream.set(p, at);
    at += p.length;
  });
  return stream;
}

export interface LmBatchOptions {
  batchSize: number;
  /** Tokens per input row (T); each window holds T+1 tokens. */
  contextLength: number;
}

function checkShape(stream: Int32Array, { batchSize, contextLength }: LmBatchOptions): void {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new FedpeftError('INVALID_BATCH', `batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(contextLength) || contextLength < 1)
    throw new FedpeftError('INVALID_BATCH', `contextLength must be a positive integer, got ${contextLength}`);
  if (stream.length < contextLength + 1)
    throw new FedpeftError(
      'TOO_FEW_TOKENS',
      `the token stream has ${stream.length} tokens, fewer than one window of contextLength + 1 = ${contextLength + 1}`,
    );
}

/** Builds int32 `[B, T]` inputs/targets from window start offsets (each window is T+1 tokens). */
export function windowsToBatch(stream: Int32Array, starts: readonly number[], contextLength: number): Batch {
  const B = starts.length;
  const T = contextLength;
  const inputs = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  starts.forEach((s, b) => {
    inputs.set(stream.subarray(s, s + T), b * T);
    targets.set(stream.subarray(s + 1, s + T + 1), b * T);
  });
  return { inputs: tf.tensor2d(inputs, [B, T], 'int32'), targets: tf.tensor2d(targets, [B, T], 'int32') };
}

/** One training batch of `batchSize` windows at uniform random offsets (seeded by `rng`). Caller disposes. */
export function sampleLmBatch(stream: Int32Array, options: LmBatchOptions, rng: Rng): Batch {
  checkShape(stream, options);
  const positions = stream.length - options.contextLength; // valid starts: 0 .. len - T - 1
  const starts = Array.from({ length: options.batchSize }, () => rng.int(positions));
  return windowsToBatch(stream, starts, options.contextLength);
}

/** An endless (or `steps`-long) sequence of training batches. Each yielded batch is the caller's to dispose. */
export function* lmBatches(
  stream: Int32Array,
  options: LmBatchOptions & { steps?: number },
  rng: Rng,
): Generator<Batch> {
  checkShape(stream, options);
  for (let step = 0; options.steps === undefined || step < options.steps; step++)
    yield sampleLmBatch(stream, options, rng);
}

export interface EvalWindows {
  /** Window start offsets, ascending; every window is T+1 tokens. */
  starts: number[];
  contextLength: number;
  /** Number of target tokens scored (windows * T): the denominator of a per-token loss. */
  predictedTokens: number;
}

/**
 * The deterministic evaluation windows of a stream: starts 0, T, 2T, ... while a full window fits. With
 * `maxWindows`, an evenly spaced subset of those (still deterministic) so evaluation cost stays bounded on
 * large corpora while still covering the whole stream.
 */
export function evalWindows(stream: Int32Array, contextLength: number, maxWindows?: number): EvalWindows {
  checkShape(stream, { batchSize: 1, contextLength });
  const count = Math.floor((stream.length - 1) / contextLength);
  let starts = Array.from({ length: count }, (_, k) => k * contextLength);
  if (maxWindows !== undefined && maxWindows < count) {
    if (!Number.isInteger(maxWindows) || maxWindows < 1)
      throw new FedpeftError('INVALID_BATCH', `maxWindows must be a positive integer, got ${maxWindows}`);
    starts = Array.from(
      { length: maxWindows },
      (_, k) => starts[Math.floor((k * count) / maxWindows)] as number,
    );
  }
  return { starts, contextLength, predictedTokens: starts.length * contextLength };
}

/** The evaluation windows as batches of at most `batchSize` rows (the last may be smaller). Caller disposes. */
export function* evalBatches(stream: Int32Array, windows: EvalWindows, batchSize: number): Generator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new FedpeftError('INVALID_BATCH', `batchSize must be a positive integer, got ${batchSize}`);
  for (let i = 0; i < windows.starts.length; i += batchSize)
    yield windowsToBatch(stream, windows.starts.slice(i, i + batchSize), windows.contextLength);
}

/** Disposes both tensors of a batch. */
export function disposeBatch(batch: Batch): void {
  batch.inputs.dispose();
  batch.targets.dispose();
}
