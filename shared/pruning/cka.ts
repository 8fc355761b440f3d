/**
 * Linear centered kernel alignment (Kornblith et al. 2019), LoSA's measure of how redundant a layer is: two
 * layers whose inputs carry the same information (up to rotation and scale) have CKA near 1.
 *
 *   CKA(X, Y) = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F),   Xc = X with each column's mean removed,
 *
 * which is HSIC with linear kernels normalized: `||Yc^T Xc||_F^2 = <Xc Xc^T, Yc Yc^T>_F`. Both the feature form
 * (d x d products) and the Gram form (N x N products) give the same number; the cheaper one is used. Each
 * centered matrix is scaled to unit Frobenius norm first (CKA is scale invariant) so float32 sums of fourth
 * powers of activations cannot overflow. Products are plain matMuls of explicit transposes (wasm's transposed
 * matMul is slow, design §6).
 */
import { tf } from '../tensor/tf.ts';
import { FedpeftError } from '../errors.ts';

/**
 * Linear CKA between activations `x` `[N, d1]` and `y` `[N, d2]` of the same N samples, in [0, 1]. A matrix
 * with no variance (every row equal) shares no information with anything: its CKA is 0 by convention.
 * The inputs are not disposed.
 */
export function linearCka(x: tf.Tensor2D, y: tf.Tensor2D): number {
  const matrix = pairwiseCka([x, y]);
  return matrix[0]?.[1] ?? 0;
}

/**
 * Symmetric CKA matrix for a list of layer inputs, all `[N, d_i]` over the same N samples; the diagonal is 1
 * (0 for a layer without variance). The inputs are not disposed.
 */
export function pairwiseCka(activations: readonly tf.Tensor2D[]): number[][] {
  const count = activations.length;
  if (count === 0) return [];
  const samples = activations[0]?.shape[0] ?? 0;
  activations.forEach((a, i) => {
    if (a.rank !== 2 || a.shape[0] !== samples) {
      throw new FedpeftError(
        'INVALID_SHAPE',
        `CKA needs [samples, features] activations of the same samples: input ${i} is [${a.shape.join(', ')}], input 0 has ${samples} samples`,
      );
    }
  });
  if (samples < 2) {
    throw new FedpeftError('INVALID_SHAPE', `CKA needs at least 2 samples to center, got ${samples}`);
  }
  const meanDim = activations.reduce((acc, a) => acc + a.shape[1], 0) / count;
  // Gram form costs N^2 d per layer (once) + N^2 per pair; feature form costs N d^2 per pair.
  const useGram = samples <= meanDim;
  const out = Array.from({ length: count }, () => new Array<number>(count).fill(0));

  const prepared = activations.map((a) => prepare(a, useGram));
  try {
    // selfNorm_i = ||Xc^T Xc||_F (or ||G||_F), cross_ij = ||Xc_j^T Xc_i||_F^2 (or <G_i, G_j>).
    const selfNorm = prepared.map((p) =>
      p === null ? 0 : useGram ? frobenius(p) : tf.tidy(() => frobeniusOf(tf.matMul(tf.transpose(p), p))),
    );
    for (let i = 0; i < count; i++) {
      const pi = prepared[i];
      const si = selfNorm[i] ?? 0;
      out[i]![i] = pi && si > 0 ? 1 : 0;
      for (let j = i + 1; j < count; j++) {
        const pj = prepared[j];
        const sj = selfNorm[j] ?? 0;
        if (!pi || !pj || si === 0 || sj === 0) continue;
        const cross = tf.tidy(() =>
          useGram
            ? (tf.sum(tf.mul(pi, pj)).dataSync()[0] ?? 0)
            : frobeniusOf(tf.matMul(tf.transpose(pj), pi)) ** 2,
        );
        const value = clamp01(cross / (si * sj));
        out[i]![j] = value;
        out[j]![i] = value;
      }
    }
  } finally {
    for (const p of prepared) p?.dispose();
  }
  return out;
}

/**
 * Column-centered and scaled to unit Frobenius norm (its Gram matrix `Xc Xc^T` when `gram`); null when the matrix
 * has no variance. "No variance" is relative to the matrix's own size, because centering a constant column in
 * float32 leaves rounding noise that would otherwise be normalized up into a meaningless direction.
 */
function prepare(a: tf.Tensor2D, gram: boolean): tf.Tensor2D | null {
  const centered = tf.tidy(() => tf.sub(a, tf.mean(a, 0, true)));
  const norm = frobenius(centered);
  if (!(norm > NO_VARIANCE * frobenius(a))) {
    centered.dispose();
    return null;
  }
  const out = tf.tidy(() => {
    const unit = tf.div(centered, norm);
    return gram ? tf.matMul(unit, tf.transpose(unit)) : unit;
  });
  centered.dispose();
  return out as tf.Tensor2D;
}

/** Centered norm below this fraction of the raw norm counts as constant (float32 epsilon is ~1.2e-7). */
const NO_VARIANCE = 1e-5;

function frobenius(t: tf.Tensor): number {
  return tf.tidy(() => frobeniusOf(t));
}

function frobeniusOf(t: tf.Tensor): number {
  return tf.norm(t).dataSync()[0] ?? 0;
}

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, v));
}
