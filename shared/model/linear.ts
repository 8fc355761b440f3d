/**
 * The one adaptable building block. Every layer any adapter can touch, in every model, is a named `Linear`
 * with a role. Adapters attach by installing a `LinearHook`; the model calls `linear.apply(x)` and never knows
 * which adapter (if any) is attached.
 *
 * Kernel convention is TF.js dense: `K in R^{in x out}`, `y = x K (+ b)`.
 */
import { tf } from '../tensor/tf.ts';
import { frozenLinear, linear as trainableLinear, type FrozenKernel } from '../tensor/fast-ops.ts';
import { uniqueVariableName } from './variable-name.ts';

/** `gate` is the SwiGLU gate projection of Llama-family MLPs (GPT-2's MLP has only `up` and `down`). */
export const ROLES = ['q', 'k', 'v', 'o', 'gate', 'up', 'down', 'head'] as const;
export type Role = (typeof ROLES)[number];

/** What an adapter installs on a Linear to take over its forward pass. */
export interface LinearHook {
  /** `x` is `[N, in]`; returns `[N, out]`. Must include the base projection `x K (+ b)`. */
  forward(x: tf.Tensor2D, base: Linear): tf.Tensor2D;
}

export class Linear {
  readonly name: string;
  readonly role: Role;
  readonly inDim: number;
  readonly outDim: number;
  /** `[in, out]`. A Variable so full fine-tuning and pretraining can train it; frozen otherwise. */
  readonly kernel: tf.Variable<tf.Rank.R2>;
  readonly bias: tf.Variable<tf.Rank.R1> | null;
  /** When false (the default for fine-tuning) the forward pass uses the frozen fast path and K gets no gradient. */
  trainable = false;
  hook: LinearHook | null = null;
  private frozen: FrozenKernel | null = null;

  constructor(opts: { name: string; role: Role; kernel: tf.Tensor2D; bias?: tf.Tensor1D | null }) {
    const [inDim, outDim] = opts.kernel.shape;
    if (opts.bias && opts.bias.shape[0] !== outDim) {
      throw new Error(
        `Linear ${opts.name}: bias has ${opts.bias.shape[0]} entries, kernel has ${outDim} outputs`,
      );
    }
    this.name = opts.name;
    this.role = opts.role;
    this.inDim = inDim;
    this.outDim = outDim;
    // Unique names: two models with the same layer names may coexist (tfjs throws on a duplicate name).
    this.kernel = tf.variable(opts.kernel, false, uniqueVariableName(`${opts.name}.kernel`));
    this.bias = opts.bias ? tf.variable(opts.bias, false, uniqueVariableName(`${opts.name}.bias`)) : null;
  }

  /** `x` is `[N, in]`. Routes through the attached hook, else the base projection. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    if (this.hook) return this.hook.forward(x, this);
    return this.baseForward(x);
  }

  /** The base projection alone, `x K (+ b)`, with or without a gradient for K depending on `trainable`. */
  baseForward(x: tf.Tensor2D): tf.Tensor2D {
    if (this.trainable) return trainableLinear(x, this.kernel, this.bias ?? undefined);
    return frozenLinear(x, this.frozenKernel(), this.bias ?? undefined);
  }

  /** The kernel with its cached transpose for the frozen fast path. */
  frozenKernel(): FrozenKernel {
    if (!this.frozen) this.frozen = { kernel: this.kernel, kernelT: tf.keep(tf.transpose(this.kernel)) };
    return this.frozen;
  }

  /**
   * Replace the kernel's values (merging an adapter, folding a c³LA link, pruning) and invalidate the cached
   * transpose. The tensor passed in is copied, not kept.
   */
  assignKernel(values: tf.Tensor2D): void {
    if (values.shape[0] !== this.inDim || values.shape[1] !== this.outDim) {
      throw new Error(
        `Linear ${this.name}: new kernel ${JSON.stringify(values.shape)} != [${this.inDim}, ${this.outDim}]`,
      );
    }
    this.kernel.assign(values);
    this.invalidateCache();
  }

  /** Must be called after any in-place change to `kernel` (an optimizer step in full fine-tuning, say). */
  invalidateCache(): void {
    this.frozen?.kernelT.dispose();
    this.frozen = null;
  }

  dispose(): void {
    this.invalidateCache();
    this.kernel.dispose();
    this.bias?.dispose();
  }
}
