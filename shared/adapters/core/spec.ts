/**
 * The composable adapter core, described as data. Every paper's method is one `CoreSpec` (a preset); the core
 * (`CoreAdapter`) implements each orthogonal part once:
 *
 * - shape of the update `ΔK` (TF.js convention, `K in R^{m x n}`, `y = x K + x ΔK`):
 *   - `factored`: `ΔK = s A B` with each factor trained, frozen-from-seed or an SVD projector (LoRA family, PiCa, LoSA);
 *   - `window`:   `ΔK[w:w+r] = s B`, the input side is a SLICE of r input columns (cLA family; never a matmul by A);
 *   - `columns`:  `ΔK[idx] = s B` for r seeded input columns, a gather (PaCA);
 *   - `dense`:    `ΔK = D` (full fine-tuning, kept as a delta so the base stays untouched until merged).
 * - output-side sharing: per layer, or one factor per role shared by every layer of that role (PiCa's `B_role`);
 * - chaining: none / sequential windows / a seeded permutation of windows / merge-and-reinit per link;
 * - masking: none / the base's sparsity pattern `M = [K != 0]` (LoSA);
 * - learning-rate ratio for B (LoRA+), scale `s` (alpha / r; 1 for PiCa and PaCA);
 * - how ranks differ between clients (fixed / nested prefixes / per-client factors) and whether factors are
 *   fresh every round (FLoRA). These decide each shared tensor's aggregation rule.
 */
import type { Role } from '../../model/linear.ts';

/** Where one factor of a `factored` update comes from. */
export type FactorSource =
  /** A trainable factor. `placement` decides whether it travels (`shared`) or stays on the device (`private`). */
  | { kind: 'trained'; init: 'kaiming-uniform' | 'zeros'; placement: 'shared' | 'private' }
  /** Frozen, drawn from the run seed (kaiming-uniform), so every client derives the same one. */
  | { kind: 'seeded' }
  /** Frozen top-r singular vectors of the base kernel (PiCa): `U_l` as A, or `V_l^T` as B. */
  | { kind: 'svd' };

export type UpdateShape =
  | { kind: 'factored'; A: FactorSource; B: FactorSource }
  | { kind: 'window'; offset: 'start' | 'seeded'; placement: 'shared' | 'private' }
  | { kind: 'columns'; placement: 'shared' | 'private' }
  | { kind: 'dense' };

export type Chaining = 'none' | 'sequential-windows' | 'permuted-windows' | 'merge-reinit';

/**
 * - `fixed`: every client uses rank r.
 * - `nested-prefix`: tensors are full-size, a client of rank r_k trains the first r_k rows/columns (PiCa, LoSA).
 * - `per-client`: a client allocates factors of its own rank r_k (HetLoRA truncates the global, FLoRA stacks).
 */
export type RankMode = 'fixed' | 'nested-prefix' | 'per-client';

export interface CoreSpec {
  /** The preset's registered name (recorded on the adapter). */
  method: string;
  roles: readonly Role[];
  rank: number;
  scale: number;
  shape: UpdateShape;
  /** One trainable factor per role, shared by all its layers (requires equal dims along the shared side). */
  shareByRole: boolean;
  chain: Chaining;
  mask: 'none' | 'base';
  /** Learning-rate multiplier of the B factor relative to A (LoRA+). */
  lrRatioB: number;
  rankMode: RankMode;
  /** FLoRA: each round's global is a stack of client factors; `setShared` folds it into the base and re-initialises. */
  freshEachRound: boolean;
  /** Per-layer ranks `r_l <= rank` by Linear name (LoSA); a nested prefix of the rank-`rank` factors. */
  layerRanks?: Readonly<Record<string, number>>;
}
