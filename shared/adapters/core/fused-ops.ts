/**
 * One `tf.customGrad` per adapted projection. Built from stock ops (slice, add, mul, pad), an adapter saves
 * full-size inputs for every little op (on wasm each saved tensor is a physical copy, +3.5% peak memory on a
 * small GPT); fused, each op saves only what its gradient really needs (the N x r slice for cLA, x and x·A for
 * LoRA) and recomputes the rest from the live variables. Every matMul is plain (no transposeA/B flags): wasm's
 * transposed matMul is 15-30x slower. The forward and backward bodies run inside `tf.tidy`, so intermediates
 * like `K_eff` are freed as soon as the op returns instead of living until the end of backprop.
 *
 * No gradient ever flows to the base kernel or bias: adapters train only their own tensors.
 */
import { tf } from '../../tensor/tf.ts';
import type { FrozenKernel } from '../../tensor/fast-ops.ts';

type CustomGradArgs = (tf.Tensor | tf.GradSaveFunc)[];

/** The r input columns a window/columns adapter reads: a contiguous slice when `start` is set, else a gather. */
export interface ColumnSelector {
  /** First column of a contiguous window, or null when the columns wrap around or are scattered. */
  readonly start: number | null;
  /** int32 `[r]`, the column indices (owned by the adapter). */
  readonly indices: tf.Tensor1D;
}

export interface BaseProjection {
  readonly frozen: FrozenKernel;
  readonly bias: tf.Tensor1D | null;
}

function addBias(y: tf.Tensor2D, bias: tf.Tensor1D | null): tf.Tensor2D {
  return bias ? tf.add(y, bias) : y;
}

function scaled<T extends tf.Tensor>(t: T, s: number): T {
  return s === 1 ? t : tf.mul(t, s);
}

export function selectColumns(x: tf.Tensor2D, sel: ColumnSelector): tf.Tensor2D {
  const r = sel.indices.shape[0];
  if (sel.start !== null) return tf.slice(x, [0, sel.start], [x.shape[0], r]);
  return tf.gather(x, sel.indices, 1);
}

/** The `[m, n]` matrix that is `rows` (`[r, n]`) at the selected rows and zero elsewhere. */
export function placeRows(rows: tf.Tensor2D, sel: ColumnSelector, m: number): tf.Tensor2D {
  const r = rows.shape[0];
  if (sel.start !== null)
    return tf.pad(rows, [
      [sel.start, m - sel.start - r],
      [0, 0],
    ]);
  return tf.scatterND(tf.reshape(sel.indices, [r, 1]), rows, [m, rows.shape[1]]);
}

/** Same as `placeRows(...)^T`, built without transposing an `[m, n]` matrix when the window is contiguous. */
function placeColumns(rowsT: tf.Tensor2D, sel: ColumnSelector, m: number): tf.Tensor2D {
  const r = rowsT.shape[1];
  if (sel.start !== null)
    return tf.pad(rowsT, [
      [0, 0],
      [sel.start, m - sel.start - r],
    ]);
  return tf.transpose(placeRows(tf.transpose(rowsT), sel, m));
}

/**
 * cLA / c³LA / PaCA: `y = x K_eff (+ b)` with `K_eff = K` plus `s B` added to the selected rows. Backward:
 * `dx = dy K_eff^T`, `dB = s x[:, sel]^T dy`. Saves only the `N x r` selected columns; the input side is a
 * slice (or gather), never a matmul by an identity/selection matrix.
 */
export function windowLinear(
  x: tf.Tensor2D,
  base: BaseProjection,
  B: tf.Tensor2D,
  sel: ColumnSelector,
  scale: number,
): tf.Tensor2D {
  const { kernel, kernelT } = base.frozen;
  const m = kernel.shape[0];
  const op = tf.customGrad((...args: CustomGradArgs) => {
    const [input, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    const value = tf.tidy(() => {
      save([selectColumns(input, sel)]);
      const kEff = tf.add(kernel, placeRows(scaled(b, scale), sel, m));
      return addBias(tf.matMul(input, kEff), base.bias);
    });
    return {
      value,
      gradFunc: (dy, saved) =>
        tf.tidy(() => {
          const [xSel] = saved as [tf.Tensor2D];
          const g = dy;
          const kEffT = tf.add(kernelT, placeColumns(tf.transpose(scaled(b, scale)), sel, m));
          return [tf.matMul(g, kEffT), scaled(tf.matMul(tf.transpose(xSel), g), scale)];
        }),
    };
  });
  return op(x, B);
}

export interface FactoredOptions {
  scale: number;
  /** Use the first `rank` columns of A and rows of B (nested ranks); the rest get a zero gradient. */
  rank: number;
  trainA: boolean;
  trainB: boolean;
  /** LoSA: `ΔK = s (A B) ⊙ mask`, formed densely (the mask is `[m, n]` anyway). */
  mask: tf.Tensor2D | null;
}

function prefixColumns(t: tf.Tensor2D, k: number): tf.Tensor2D {
  return k === t.shape[1] ? t : tf.slice(t, [0, 0], [t.shape[0], k]);
}

function prefixRows(t: tf.Tensor2D, k: number): tf.Tensor2D {
  return k === t.shape[0] ? t : tf.slice(t, [0, 0], [k, t.shape[1]]);
}

function padColumns(t: tf.Tensor2D, total: number): tf.Tensor2D {
  return t.shape[1] === total
    ? t
    : tf.pad(t, [
        [0, 0],
        [0, total - t.shape[1]],
      ]);
}

function padRows(t: tf.Tensor2D, total: number): tf.Tensor2D {
  return t.shape[0] === total
    ? t
    : tf.pad(t, [
        [0, total - t.shape[0]],
        [0, 0],
      ]);
}

/**
 * LoRA family, PiCa and LoSA: `y = x K + s (x A_k) B_k (+ b)`, or with a mask `y = x (K + s (A_k B_k) ⊙ M)`.
 * Unmasked backward (saves x only when A trains, and `x A_k`): `g = dy B_k^T`, `dx = dy K^T + s g A_k^T`,
 * `dA = s x^T g`, `dB = s (x A_k)^T dy`. Masked backward (saves x): `G = (x^T dy) ⊙ M`, `dA = s G B_k^T`,
 * `dB = s A_k^T G`, `dx = dy (K + ΔK)^T`. Gradients of prefix-sliced factors are zero-padded to full size.
 */
export function factoredLinear(
  x: tf.Tensor2D,
  base: BaseProjection,
  A: tf.Tensor2D,
  B: tf.Tensor2D,
  o: FactoredOptions,
): tf.Tensor2D {
  if (o.mask) return maskedFactoredLinear(x, base, A, B, o, o.mask);
  const { kernel, kernelT } = base.frozen;
  const k = o.rank;
  const s = o.scale;
  const inputs: tf.Tensor[] = [x];
  if (o.trainA) inputs.push(A);
  if (o.trainB) inputs.push(B);
  const op = tf.customGrad((...args: CustomGradArgs) => {
    const input = args[0] as tf.Tensor2D;
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const value = tf.tidy(() => {
      const xA = tf.matMul(input, prefixColumns(A, k));
      save(o.trainA ? [xA, input] : [xA]);
      return addBias(tf.add(tf.matMul(input, kernel), tf.matMul(scaled(xA, s), prefixRows(B, k))), base.bias);
    });
    return {
      value,
      gradFunc: (dy, saved) =>
        tf.tidy(() => {
          const [xA, xSaved] = saved as [tf.Tensor2D, tf.Tensor2D | undefined];
          const dyT = dy;
          const g = scaled(tf.matMul(dyT, tf.transpose(prefixRows(B, k))), s);
          const grads: tf.Tensor[] = [
            tf.add(tf.matMul(dyT, kernelT), tf.matMul(g, tf.transpose(prefixColumns(A, k)))),
          ];
          if (o.trainA) grads.push(padColumns(tf.matMul(tf.transpose(xSaved!), g), A.shape[1]));
          if (o.trainB) grads.push(padRows(scaled(tf.matMul(tf.transpose(xA), dyT), s), B.shape[0]));
          return grads;
        }),
    };
  });
  return op(...inputs);
}

/** `s (A_k B_k) ⊙ M` — the masked low-rank update (also what merging a masked adapter adds). */
export function maskedDelta(
  A: tf.Tensor2D,
  B: tf.Tensor2D,
  rank: number,
  scale: number,
  mask: tf.Tensor2D,
): tf.Tensor2D {
  return tf.tidy(() =>
    tf.mul<tf.Tensor2D>(scaled(tf.matMul(prefixColumns(A, rank), prefixRows(B, rank)), scale), mask),
  );
}

function maskedFactoredLinear(
  x: tf.Tensor2D,
  base: BaseProjection,
  A: tf.Tensor2D,
  B: tf.Tensor2D,
  o: FactoredOptions,
  mask: tf.Tensor2D,
): tf.Tensor2D {
  const { kernel, kernelT } = base.frozen;
  const k = o.rank;
  const s = o.scale;
  const inputs: tf.Tensor[] = [x];
  if (o.trainA) inputs.push(A);
  if (o.trainB) inputs.push(B);
  const op = tf.customGrad((...args: CustomGradArgs) => {
    const input = args[0] as tf.Tensor2D;
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const value = tf.tidy(() => {
      save([input]);
      return addBias(tf.matMul(input, tf.add(kernel, maskedDelta(A, B, k, s, mask))), base.bias);
    });
    return {
      value,
      gradFunc: (dy, saved) =>
        tf.tidy(() => {
          const [xSaved] = saved as [tf.Tensor2D];
          const g = dy;
          const kEffT = tf.add(kernelT, tf.transpose(maskedDelta(A, B, k, s, mask)));
          const grads: tf.Tensor[] = [tf.matMul(g, kEffT)];
          const G = scaled(tf.mul(tf.matMul(tf.transpose(xSaved), g), mask), s);
          if (o.trainA) grads.push(padColumns(tf.matMul(G, tf.transpose(prefixRows(B, k))), A.shape[1]));
          if (o.trainB) grads.push(padRows(tf.matMul(tf.transpose(prefixColumns(A, k)), G), B.shape[0]));
          return grads;
        }),
    };
  });
  return op(...inputs);
}

/** Full fine-tuning as a delta: `y = x (K + D) (+ b)`; `dD = x^T dy`, `dx = dy (K + D)^T`. Saves x. */
export function denseDeltaLinear(x: tf.Tensor2D, base: BaseProjection, D: tf.Tensor2D): tf.Tensor2D {
  const { kernel, kernelT } = base.frozen;
  const op = tf.customGrad((...args: CustomGradArgs) => {
    const [input, d, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    const value = tf.tidy(() => {
      save([input]);
      return addBias(tf.matMul(input, tf.add(kernel, d)), base.bias);
    });
    return {
      value,
      gradFunc: (dy, saved) =>
        tf.tidy(() => {
          const [xSaved] = saved as [tf.Tensor2D];
          const g = dy;
          return [tf.matMul(g, tf.add(kernelT, tf.transpose(d))), tf.matMul(tf.transpose(xSaved), g)];
        }),
    };
  });
  return op(x, D);
}
