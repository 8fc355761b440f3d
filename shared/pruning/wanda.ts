/**
 * Wanda pruning (Sun et al. 2024, "A Simple and Effective Pruning Approach for LLMs"), as LoSA uses it.
 *
 * A weight's score is `|K_ij| * ||X_i||_2`: its magnitude times the norm of the input feature it multiplies over
 * the calibration tokens, so a small weight on a loud feature can outrank a large weight on a silent one. Weights
 * compete only with the other weights feeding the same output: in the TF.js convention (`K` is `[in, out]`,
 * `y = x K`) that is WITHIN EACH OUTPUT COLUMN, across input rows (PyTorch's `[out, in]` compares within rows).
 *
 * Scores are ranked on the host: pruning runs a handful of times per training run, and an exact per-column
 * count (achieved sparsity == requested) with deterministic tie-breaking matters more than speed here. Ties are
 * broken by input index (the lower index is pruned first), so every client with the same kernel and norms
 * derives the same mask.
 */
import { tf } from '../tensor/tf.ts';
import { FedpeftError } from '../errors.ts';

/** "N:M" sparsity: at most `n` nonzeros in every `m` consecutive inputs of a column (2:4 keeps 2 of every 4). */
export interface NmPattern {
  n: number;
  m: number;
}

/** Unstructured pruning to a fraction in [0, 1), or an N:M pattern. */
export type WandaPattern = { kind: 'unstructured'; sparsity: number } | ({ kind: 'n:m' } & NmPattern);

export interface WandaResult {
  /** The pruned kernel `K ⊙ mask`, `[in, out]`. Caller owns it. */
  kernel: tf.Tensor2D;
  /** 1 where a weight is kept, 0 where it was pruned; float32 `[in, out]`. Caller owns it. */
  mask: tf.Tensor2D;
  /** Fraction of positions pruned (mask zeros) over the whole kernel. */
  sparsity: number;
}

/**
 * `||X_i||_2` per input feature of an activation matrix `[N, in]` (rows are calibration tokens). The tensor is
 * not disposed.
 */
export function inputFeatureNorms(activations: tf.Tensor2D): Float32Array {
  if (activations.rank !== 2) {
    throw new FedpeftError(
      'INVALID_SHAPE',
      `calibration activations must be [tokens, in], got [${activations.shape.join(', ')}]`,
    );
  }
  const norms = tf.tidy(() => tf.sqrt(tf.sum(tf.square(activations), 0)));
  const out = Float32Array.from(norms.dataSync());
  norms.dispose();
  return out;
}

/** Parse "2:4" (or pass through `{ n, m }`) and validate it. */
export function parseNmPattern(spec: string | NmPattern): NmPattern {
  let p: NmPattern;
  if (typeof spec === 'string') {
    const match = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(spec);
    if (!match) {
      throw new FedpeftError('INVALID_PATTERN', `N:M pattern must look like "2:4", got "${spec}"`);
    }
    p = { n: Number(match[1]), m: Number(match[2]) };
  } else {
    p = spec;
  }
  if (!Number.isInteger(p.n) || !Number.isInteger(p.m) || p.m < 1 || p.n < 0 || p.n > p.m) {
    throw new FedpeftError(
      'INVALID_PATTERN',
      `N:M pattern needs integers 0 <= N <= M and M >= 1 (e.g. 2:4 keeps 2 of every 4), got ${p.n}:${p.m}`,
    );
  }
  return p;
}

/**
 * Prune `kernel` (`[in, out]`) by Wanda scores. `inputNorms[i]` is `||X_i||_2` (see `inputFeatureNorms`).
 *
 * - unstructured: in each output column exactly `round(sparsity * in)` weights with the lowest scores are zeroed,
 *   so the achieved sparsity equals the target up to that rounding (exactly when `sparsity * in` is an integer);
 * - n:m: in each column, every group of `m` consecutive input rows keeps its `n` highest scores; a trailing
 *   group shorter than `m` (when `in % m != 0`) keeps `min(n, its length)`.
 *
 * The inputs are not disposed.
 */
export function wandaPrune(
  kernel: tf.Tensor2D,
  inputNorms: Float32Array,
  pattern: WandaPattern,
): WandaResult {
  const [rows, cols] = kernel.shape;
  if (inputNorms.length !== rows) {
    throw new FedpeftError(
      'INVALID_SHAPE',
      `Wanda needs one input norm per kernel row: kernel is [${rows}, ${cols}] but ${inputNorms.length} norms were given`,
    );
  }
  const k = kernel.dataSync();
  const keep = new Float32Array(rows * cols);
  const scores = new Float64Array(rows);
  const select = columnSelector(rows, pattern);
  for (let j = 0; j < cols; j++) {
    for (let i = 0; i < rows; i++) scores[i] = Math.abs(k[i * cols + j] ?? 0) * (inputNorms[i] ?? 0);
    select(scores, (i) => {
      keep[i * cols + j] = 1;
    });
  }
  let kept = 0;
  for (let t = 0; t < keep.length; t++) kept += keep[t] ?? 0;
  const mask = tf.tensor2d(keep, [rows, cols]);
  const pruned = tf.mul<tf.Tensor2D>(kernel, mask);
  return { kernel: pruned, mask, sparsity: keep.length === 0 ? 0 : 1 - kept / keep.length };
}

/** Wanda scores `|K_ij| * ||X_i||`, row-major `[in, out]` (for inspection and tests). */
export function wandaScores(kernel: tf.Tensor2D, inputNorms: Float32Array): Float32Array {
  const [rows, cols] = kernel.shape;
  const k = kernel.dataSync();
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) out[i * cols + j] = Math.abs(k[i * cols + j] ?? 0) * (inputNorms[i] ?? 0);
  return out;
}

type KeepCallback = (row: number) => void;

/** Builds the per-column selection rule once (validation included) and returns it. */
function columnSelector(
  rows: number,
  pattern: WandaPattern,
): (scores: Float64Array, keep: KeepCallback) => void {
  if (pattern.kind === 'unstructured') {
    const s = pattern.sparsity;
    if (!Number.isFinite(s) || s < 0 || s >= 1) {
      throw new FedpeftError('INVALID_SPARSITY', `sparsity must be in [0, 1), got ${s}`);
    }
    const prune = Math.round(s * rows);
    return (scores, keep) => keepTop(scores, 0, rows, rows - prune, keep);
  }
  const { n, m } = parseNmPattern(pattern);
  return (scores, keep) => {
    for (let start = 0; start < rows; start += m) {
      const len = Math.min(m, rows - start);
      keepTop(scores, start, len, Math.min(n, len), keep);
    }
  };
}

/**
 * Calls `keep(row)` for the `count` highest scores among rows `[start, start + len)`. Ties at the threshold keep
 * the higher row index (equivalently: among equal scores, lower indices are pruned first).
 */
function keepTop(scores: Float64Array, start: number, len: number, count: number, keep: KeepCallback): void {
  if (count <= 0) return;
  if (count >= len) {
    for (let i = start; i < start + len; i++) keep(i);
    return;
  }
  const sorted = scores.slice(start, start + len).sort(); // typed-array sort is numeric
  const threshold = sorted[len - count] ?? 0; // the smallest kept score
  let above = 0;
  for (let i = start; i < start + len; i++) if ((scores[i] ?? 0) > threshold) above++;
  // Every score above the threshold is kept; the remaining slots go to threshold ties, highest index first.
  let tiesToKeep = count - above;
  for (let i = start + len - 1; i >= start; i--) {
    const v = scores[i] ?? 0;
    if (v > threshold) keep(i);
    else if (v === threshold && tiesToKeep > 0) {
      keep(i);
      tiesToKeep--;
    }
  }
}
