/**
 * The adapter contract. A method (a named preset over the composable core, PEFT-style) attaches to a model
 * and yields an `Adapter` whose state is split three ways — the heart of the product:
 *
 * - `shared`:  tensors that travel to the coordinator and are aggregated (PiCa `B_role`, cLA `B`, LoRA `A,B`).
 * - `private`: tensors that never leave the device (FedSA's `B`, LoSA masks, personal state).
 * - `derived`: frozen tensors recomputable from the base model and the run seed (PiCa `U_l`, cLA windows,
 *              FFA `A`). Never sent; `signature()` lets the coordinator check every client derived the same.
 */
import type { z } from 'zod';
import type { tf } from '../tensor/tf.ts';
import type { AdaptableModel } from '../model/types.ts';
import type { Role } from '../model/linear.ts';

/** How the coordinator combines one kind of shared tensor. Methods declare it; strategies never look at names. */
export type AggregationRule =
  /** `sum_k w_k T_k / sum_k w_k` — exact for single-factor methods (the other factor is identical everywhere). */
  | { kind: 'weighted-mean' }
  /** FLoRA: concatenate clients' factors along `axis` (A scaled by `w_k / sum w` along rows), then merge into the base. */
  | { kind: 'stack'; axis: 0 | 1; scaleByWeight: boolean }
  /** HetLoRA: zero-pad along `axis` to the largest rank, weight by ‖B_k A_k‖_F, truncate back per client. */
  | { kind: 'zero-pad-norm-weighted'; axis: 0 | 1 }
  /** Nested ranks (PiCa on weak devices): each row/column prefix is averaged over the clients that trained it. */
  | { kind: 'nested-prefix-mean'; axis: 0 | 1 }
  /** Never aggregated: stays on the device (FedSA-LoRA's B). Such tensors are `private`, not `shared`. */
  | { kind: 'local-only' };

export type TensorMap = Map<string, tf.Tensor>;

/**
 * One adapted Linear's weight update as two factors, `ΔK = P Q` in the TF.js layout (`P [in, r]`, `Q [r, out]`,
 * every scale folded into `Q`). This is what portable formats (PEFT LoRA) store: `lora_A = Pᵀ`, `lora_B = Qᵀ`.
 */
export interface LowRankFactors {
  P: tf.Tensor2D;
  Q: tf.Tensor2D;
}

/** Every adapted Linear's update as factors (keyed by Linear name), or why the method's update is not low rank. */
export type LowRankUpdate =
  { lowRank: true; layers: Map<string, LowRankFactors> } | { lowRank: false; reason: string };

export interface AttachContext {
  /** The run seed: every derived random tensor (FFA `A`, random-cLA offsets, probes) comes from it. */
  seed: number;
  /**
   * This client's rank `r_k <= r` (defaults to the configured rank). Nested-rank methods (PiCa, LoSA) use the
   * first `r_k` columns/rows of full-size shared tensors; HetLoRA and FLoRA allocate factors of rank `r_k`.
   */
  clientRank?: number;
  /**
   * Called just before the adapter folds an update into the base kernels (a chain link ending, a FLoRA round's
   * stacked global arriving), with that update's factors per Linear. The tensors live only during the call.
   * Exports use it to keep every folded link; clients leave it unset.
   */
  onFold?: (layers: ReadonlyMap<string, LowRankFactors>) => void;
}

export interface Adapter {
  readonly method: string;
  /** The validated config, defaults filled in. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Variables the local optimizer updates. */
  trainableVariables(): tf.Variable[];
  /** Learning-rate multiplier for a trainable variable (LoRA+'s ratio on B; 1 otherwise). */
  learningRateScale(variable: tf.Variable): number;
  /** Views of the live tensors (not copies): callers must not dispose them. */
  shared(): TensorMap;
  private(): TensorMap;
  derived(): TensorMap;
  /** Copy values into the shared tensors (a new global aggregate arriving). Shapes must match. */
  setShared(values: TensorMap): void;
  /** Restore private state (a client restarting from its store). */
  setPrivate(values: TensorMap): void;
  /** The aggregation rule of the shared tensor called `name`. */
  aggregation(name: string): AggregationRule;
  /**
   * How far along the rule's axis this client trained the shared tensor `name`: the rank prefix `r_k` for
   * nested-rank tensors (rows/columns beyond it kept a zero gradient), this client's rank for HetLoRA/FLoRA,
   * and the full extent along the axis otherwise. The coordinator averages each row over the clients whose
   * extent covers it.
   */
  trainedExtent(name: string): number;
  /**
   * HetLoRA's aggregation weight for the shared tensor `name`: the Frobenius norm of the weight update of the
   * layer it belongs to (`‖s B_k A_k‖_F`; summed in quadrature over the layers of a role-shared tensor).
   */
  aggregationNorm(name: string): number;
  /**
   * The current (not yet folded) update of every adapted Linear as `ΔK = P Q`; new tensors the caller
   * disposes. `{ lowRank: false }` for updates no factor pair expresses exactly (full fine-tuning, masked LoSA).
   */
  lowRankUpdate?(): LowRankUpdate;
  /** A compact fingerprint of derived state; equal across clients that derived the same frozen tensors. */
  signature(): Float32Array;
  /** Fold the adapter into the base kernels (inference speed) / take it back out. */
  merge(): void;
  unmerge(): void;
  readonly merged: boolean;
  /**
   * Chained methods (c³LA, random-c³LA, CoLA, RAC-LoRA) only. The link schedule is the coordinator's
   * (`LinkSchedule`); a client is told which link to be on.
   * - `advanceLink()`: fold the current link into the base kernels, reset it, and start link `currentLink + 1`.
   * - `setLink(i)`: the same fold, then jump to link `i` (a no-op when already there). Call it after
   *   `setShared` delivered the previous link's final aggregate, so every client folds the same tensors.
   */
  readonly currentLink?: number;
  advanceLink?(): void;
  setLink?(index: number): void;
  /**
   * Stateful methods (chained: c³LA, random-c³LA, CoLA, RAC-LoRA; fresh-each-round: FLoRA): how many folds
   * of the run's fold history the base kernels contain (0 for a fresh attach, and always 0 for stateless
   * methods). Fold i of a chained method is the final global of link i; of FLoRA, the global of round i.
   */
  readonly foldCount: number;
  /**
   * Fold the next entry of the fold history (index `foldCount`) into the base. Chained: `setShared(F_i)` then
   * `setLink(i + 1)` — what every client does at a link change. FLoRA: `setShared(F_i)` (folds the stack and
   * starts generation i + 1). A client that missed rounds applies the missing folds in index order and ends
   * on the same base as one that lived through them. Stateless methods refuse (`NOT_STATEFUL`).
   */
  applyFold(values: TensorMap): void;
  /** Remove hooks and free every tensor the adapter owns. The base model is left as it was (unless merged). */
  detach(): void;
}

export interface AdapterMethod<Schema extends z.ZodType = z.ZodType> {
  /** Unique, lower-case, `[a-z0-9-]+`. */
  readonly name: string;
  readonly description: string;
  /** Where the method comes from (paper), for `fedpeft methods`. */
  readonly reference?: string;
  /** zod schema with documented defaults; `parse({})` must give the paper's defaults. */
  readonly configSchema: Schema;
  /** Roles this method can target at all. */
  readonly targetableRoles: readonly Role[];
  attach(model: AdaptableModel, config: z.input<Schema>, context: AttachContext): Adapter;
}
