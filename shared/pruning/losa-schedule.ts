/**
 * LoSA's prune-and-train schedule (Huang et al., ICLR 2025), wired end to end on a model:
 *
 *   for t = 1..T:  target S_t = S (1 - (1 - t/T)^3)
 *     1. merge the previous stage's adapter into the base (the update is masked, so zeros stay zero) and detach it
 *     2. capture calibration inputs of every prunable Linear (`captureInputs`)
 *     3. layer-wise sparsity: linear CKA between the inputs of the decoder layers; redundant layers get more,
 *        |x_i - S_t| <= delta, mean = S_t (and never below what a layer already lost, see below)
 *     4. prune the merged kernels with Wanda at those sparsities (or an N:M pattern)
 *     5. per-layer ranks from the reconstruction errors (proportional, clipped to [1, r_max], sum kept)
 *     6. attach a fresh LoSA adapter: masks re-derived from the pruned kernels, the new ranks, B = 0
 *     7. train the adapter for `stepsPerStage` steps
 *
 * Pruning is cumulative: merged kernels still hold the earlier stages' zeros, which score 0 under Wanda and so
 * are pruned first. A layer's sparsity may therefore never drop below what it already has (its "floor"); the
 * allocation solves LoSA's LP with those floors as extra lower bounds, which is always feasible up to Wanda's
 * per-column rounding because the ramp only increases.
 *
 * Federation. The masks and ranks come from each client's own calibration data and its own target sparsity, so
 * they are private; the shared factor B is still averaged exactly (every client applies the same B under its
 * own mask, and ranks are nested prefixes). Two ways to run it:
 *  - RECOMMENDED: the whole schedule up front, locally, before the client's first round (`runLosaSchedule`),
 *    then `adapter.merge(); adapter.detach()` and attach `losa` with the returned `finalConfig` for the
 *    federated rounds. Masks and ranks then stay fixed for the whole federation, the coordinator needs no
 *    schedule, and clients with different budgets never have to switch stages together.
 *  - one stage per round (or per k rounds): drive `losaPruneStep` from a `LinkSchedule`, like c³LA links. At a
 *    stage boundary every client must first receive the previous stage's final global B (`setShared`) so the
 *    merge folds the same B everywhere, and the coordinator must reset its global B to zero, since each
 *    stage's adapter starts from B = 0. This spreads the pruning cost over rounds but couples all clients to
 *    one stage clock.
 */
import { z } from 'zod';
import { tf } from '../tensor/tf.ts';
import { FedpeftError } from '../errors.ts';
import { formatZodError } from '../config/format-error.ts';
import type { Linear, Role } from '../model/linear.ts';
import type { AdaptableModel, Batch } from '../model/types.ts';
import { captureInputs } from '../model/capture-inputs.ts';
import { attachAdapter } from '../adapters/registry.ts';
import type { Adapter } from '../adapters/types.ts';
import { BLOCK_ROLES, COMMON_BLOCK_ROLES } from '../adapters/preset.ts';
import { AdamW, type AdamWConfigInput } from '../train/adamw.ts';
import { trainStep } from '../train/train-step.ts';
import { pairwiseCka } from './cka.ts';
import {
  allocateSparsity,
  DEFAULT_BETA,
  DEFAULT_MAX_LAYER_SPARSITY,
  fillByImportance,
} from './sparsity-allocation.ts';
import { allocateRanks } from './rank-allocation.ts';
import { pruneModel } from './prune-model.ts';
import { cubicSparsity, DEFAULT_PRUNING_STEPS } from './schedule.ts';
import { parseNmPattern, type NmPattern } from './wanda.ts';

const roleList = z
  .array(z.enum(BLOCK_ROLES, { error: `roles must be among ${BLOCK_ROLES.join(', ')}` }))
  .min(1, 'give at least one role');

/** The schedule's hyper-parameters (what a user writes in a config); data and seed are passed alongside. */
export const LosaScheduleConfigSchema = z
  .object({
    /** Final mean sparsity S over the decoder layers, in [0, 1). Default 0.5. */
    targetSparsity: z
      .number()
      .min(0, 'targetSparsity must be in [0, 1)')
      .lt(1, 'targetSparsity must be in [0, 1): a layer cannot be pruned away entirely')
      .default(0.5),
    /** T, the number of prune-and-train stages. Default 5 (the paper's). */
    steps: z.number().int().min(1, 'steps (T) must be a positive integer').default(DEFAULT_PRUNING_STEPS),
    /** Adapter training steps after each pruning stage. Default 20. */
    stepsPerStage: z.number().int().min(0, 'stepsPerStage must be >= 0').default(20),
    /** Mean adapter rank per decoder layer (the rank budget is layers x rank). Default 8 (the paper's). */
    rank: z.number().int().min(1, 'rank must be a positive integer').default(8),
    /** r_max: the largest rank any layer may get. Default 16. */
    maxRank: z.number().int().min(1, 'maxRank must be a positive integer').default(16),
    /** The update is scaled by alpha / rank (rank = the mean rank, whatever a layer gets). Default 16. */
    alpha: z.number().positive('alpha must be > 0').default(16),
    /** Largest deviation of a layer's sparsity from the stage target (LoSA's delta). Default 0.05. */
    delta: z.number().min(0, 'delta must be >= 0').default(0.05),
    /** Importance temperature exp(-beta tau). Default 1. */
    beta: z.number().positive('beta must be > 0').default(DEFAULT_BETA),
    /** "unstructured" (default) or an N:M pattern such as "2:4" (then every stage prunes to that pattern). */
    pattern: z
      .string()
      .default('unstructured')
      .refine((p) => p === 'unstructured' || /^\s*\d+\s*:\s*\d+\s*$/.test(p), {
        message: 'pattern must be "unstructured" or N:M such as "2:4"',
      }),
    /** Roles the LoSA adapter trains. Default every block role GPT and Llama share (add `gate` for a Llama). */
    roles: roleList.default([...COMMON_BLOCK_ROLES]),
    /** Roles that are pruned. Default every block role GPT and Llama share. */
    pruneRoles: roleList.default([...COMMON_BLOCK_ROLES]),
  })
  .strict()
  .refine((c) => c.maxRank >= c.rank, { message: 'maxRank must be >= rank', path: ['maxRank'] });

export type LosaScheduleConfig = z.output<typeof LosaScheduleConfigSchema>;
export type LosaScheduleConfigInput = z.input<typeof LosaScheduleConfigSchema>;

export function parseLosaScheduleConfig(input: unknown): LosaScheduleConfig {
  const parsed = LosaScheduleConfigSchema.safeParse(input ?? {});
  if (!parsed.success) {
    throw new FedpeftError(
      'INVALID_CONFIG',
      `invalid LoSA schedule config:\n${formatZodError(parsed.error)}`,
    );
  }
  return parsed.data;
}

/** One decoder layer (`layers.N.*`): the Linears pruned together and the ones its adapter rank applies to. */
export interface DecoderLayer {
  index: number;
  pruned: Linear[];
  adapted: Linear[];
}

/** Groups a model's Linears by decoder layer (`layers.N.<...>`), in layer order. */
export function decoderLayers(
  model: Pick<AdaptableModel, 'linears'>,
  pruneRoles: readonly Role[],
  adaptRoles: readonly Role[],
): DecoderLayer[] {
  const layers = new Map<number, DecoderLayer>();
  for (const linear of model.linears()) {
    const prune = pruneRoles.includes(linear.role);
    const adapt = adaptRoles.includes(linear.role);
    if (!prune && !adapt) continue;
    const match = /^layers\.(\d+)\./.exec(linear.name);
    if (!match) {
      throw new FedpeftError(
        'UNSUPPORTED_MODEL',
        `LoSA needs decoder layers named layers.N.*; Linear ${linear.name} (role ${linear.role}) is not`,
      );
    }
    const index = Number(match[1]);
    const layer = layers.get(index) ?? { index, pruned: [], adapted: [] };
    if (prune) layer.pruned.push(linear);
    if (adapt) layer.adapted.push(linear);
    layers.set(index, layer);
  }
  const out = [...layers.values()].sort((a, b) => a.index - b.index);
  const empty = out.find((l) => l.pruned.length === 0);
  if (empty) {
    throw new FedpeftError(
      'UNSUPPORTED_MODEL',
      `decoder layer ${empty.index} has no Linear with a pruned role (${pruneRoles.join(', ')})`,
    );
  }
  if (out.length === 0) {
    throw new FedpeftError('UNSUPPORTED_MODEL', 'the model has no decoder layer Linears to prune');
  }
  return out;
}

/**
 * LoSA's LP `min sum x_i imp_i` s.t. mean(x) = target and per-layer boxes
 * `[max(0, target - delta, floor_i), max(floor_i, min(target + delta, maxLayer))]`, solved exactly by the
 * greedy fill in ascending importance (`fillByImportance`; equal to `allocateByImportance` when every floor
 * is 0). Raising a floor is how a layer pruned at an earlier stage keeps its zeros.
 */
export function allocateSparsityWithFloors(
  importance: readonly number[],
  options: { target: number; delta: number; floors: readonly number[]; maxLayerSparsity?: number },
): number[] {
  const { target, delta, floors } = options;
  const maxLayer = options.maxLayerSparsity ?? DEFAULT_MAX_LAYER_SPARSITY;
  if (floors.length !== importance.length) {
    throw new FedpeftError(
      'INVALID_SHAPE',
      `one floor per layer: ${floors.length} floors for ${importance.length} layers`,
    );
  }
  const lo = floors.map((f) => Math.max(0, target - delta, f));
  const hi = lo.map((l) => Math.max(l, Math.min(maxLayer, target + delta)));
  return fillByImportance(importance, lo, hi, target);
}

/** Fraction of exact zeros in a Linear's kernel: the sparsity it really has, whatever produced it. */
export function kernelSparsity(linear: Linear): number {
  const k = linear.kernel.dataSync();
  let zeros = 0;
  for (let i = 0; i < k.length; i++) if (k[i] === 0) zeros++;
  return k.length === 0 ? 0 : zeros / k.length;
}

export interface LosaPruneStepOptions {
  /** This stage's mean sparsity (cumulative: where the model should be after this step). */
  sparsity: number;
  /** Calibration batches (the client's own data); not disposed. */
  calibration: readonly Batch[];
  /** The run seed (LoSA's frozen A is drawn from it, identically on every client). */
  seed: number;
  /** Hyper-parameters; defaults as in `LosaScheduleConfigSchema` (targetSparsity/steps are not used here). */
  config?: LosaScheduleConfigInput;
}

export interface LosaLayerReport {
  /** Decoder layer index (`layers.N`). */
  index: number;
  /** Sparsity the allocation asked for. */
  allocated: number;
  /** Zero fraction over the layer's pruned kernels after pruning. */
  achieved: number;
  /** `exp(-beta tau)` from the CKA redundancy (1 for N:M, where no allocation is done). */
  importance: number;
  /** `sqrt(sum ||X K_before - X K_after||_F^2)` over the layer's pruned Linears. */
  reconstructionError: number;
  /** Adapter rank of every adapted Linear of this layer. */
  rank: number;
}

export interface LosaPruneStepReport {
  target: number;
  /** Mean over decoder layers of the achieved sparsity. */
  meanSparsity: number;
  layers: LosaLayerReport[];
  /** The `losa` adapter config attached (per-Linear ranks included); reuse it to re-attach the same adapter. */
  adapterConfig: {
    r: number;
    alpha: number;
    roles: Role[];
    ranks: Record<string, number>;
  };
}

/**
 * One LoSA stage without the training: merge and detach `previous` (if any), prune the merged model to
 * `sparsity` with calibration-driven layer sparsities, and attach a fresh LoSA adapter with re-derived masks
 * and ranks. The caller trains the returned adapter (locally, or in federated rounds) before the next stage.
 */
export function losaPruneStep(
  model: AdaptableModel,
  previous: Adapter | null,
  options: LosaPruneStepOptions,
): { adapter: Adapter; report: LosaPruneStepReport } {
  const config = parseLosaScheduleConfig(options.config);
  const target = options.sparsity;
  if (!(target >= 0 && target < 1)) {
    throw new FedpeftError('INVALID_SPARSITY', `stage sparsity must be in [0, 1), got ${target}`);
  }
  const layers = decoderLayers(model, config.pruneRoles, config.roles);
  const nm: NmPattern | null = config.pattern === 'unstructured' ? null : parseNmPattern(config.pattern);

  if (previous) {
    previous.merge();
    previous.detach();
  }
  const prunedNames = layers.flatMap((l) => l.pruned.map((p) => p.name));
  const inputs = captureInputs(model, options.calibration, prunedNames);
  try {
    let allocated: number[];
    let importance: number[];
    if (nm) {
      allocated = layers.map(() => 1 - nm.n / nm.m);
      importance = layers.map(() => 1);
    } else {
      // A decoder layer's input is what its first pruned projection sees (the normalized residual stream).
      const representations = layers.map((l) => inputs.get(l.pruned[0]?.name ?? '') as tf.Tensor2D);
      const cka = pairwiseCka(representations);
      importance = allocateSparsity(cka, {
        target,
        delta: config.delta,
        beta: config.beta,
      }).importance;
      // Per Linear the floor is its own zero fraction; the layer's floor is the largest of them, so that every
      // Linear's Wanda count round(x * in) covers the zeros it already has.
      const floors = layers.map((l) => Math.max(...l.pruned.map(kernelSparsity)));
      allocated = allocateSparsityWithFloors(importance, { target, delta: config.delta, floors });
    }
    const prune = pruneModel(
      model,
      nm
        ? { activations: inputs, mode: nm, layers: prunedNames }
        : {
            activations: inputs,
            sparsity: new Map(layers.flatMap((l, i) => l.pruned.map((p) => [p.name, allocated[i] ?? 0]))),
          },
    );
    tf.dispose([...prune.masks.values()]); // the adapter derives its own mask from the kernel's zeros
    const errors = layers.map((l) =>
      Math.sqrt(l.pruned.reduce((acc, p) => acc + (prune.reconstructionError.get(p.name) ?? 0) ** 2, 0)),
    );
    const layerRanks = allocateRanks(errors, { targetRank: config.rank, maxRank: config.maxRank });
    const ranks: Record<string, number> = {};
    layers.forEach((l, i) => {
      for (const a of l.adapted) ranks[a.name] = layerRanks[i] ?? config.rank;
    });
    // The adapter scales by alpha / r with r its allocated (maximum) rank; keep the scale at alpha / rank.
    const adapterConfig = {
      r: config.maxRank,
      alpha: (config.alpha * config.maxRank) / config.rank,
      roles: [...config.roles],
      ranks,
    };
    const adapter = attachAdapter(model, 'losa', adapterConfig, { seed: options.seed });
    const layerReports = layers.map((l, i) => {
      const sizes = l.pruned.map((p) => p.inDim * p.outDim);
      const zeros = l.pruned.reduce((acc, p, j) => acc + kernelSparsity(p) * (sizes[j] ?? 0), 0);
      return {
        index: l.index,
        allocated: allocated[i] ?? 0,
        achieved: zeros / sizes.reduce((a, b) => a + b, 0),
        importance: importance[i] ?? 1,
        reconstructionError: errors[i] ?? 0,
        rank: layerRanks[i] ?? config.rank,
      };
    });
    return {
      adapter,
      report: {
        target,
        meanSparsity: layerReports.reduce((a, r) => a + r.achieved, 0) / layerReports.length,
        layers: layerReports,
        adapterConfig,
      },
    };
  } finally {
    tf.dispose([...inputs.values()]);
  }
}

export interface LosaScheduleOptions {
  /** Training batches, cycled in order; not disposed. */
  batches: readonly Batch[];
  /** Calibration batches for pruning (default: the first training batch); not disposed. */
  calibration?: readonly Batch[];
  /** Batches the per-stage losses are measured on (default: the calibration batches); not disposed. */
  evaluation?: readonly Batch[];
  seed: number;
  config?: LosaScheduleConfigInput;
  /** AdamW settings for the adapter (a fresh optimizer per stage, since every stage has fresh variables). */
  optimizer?: AdamWConfigInput;
  /** Called after each stage (progress reporting). */
  onStage?: (stage: LosaStageReport) => void;
}

export interface LosaStageReport extends LosaPruneStepReport {
  /** 1-based stage index t. */
  stage: number;
  /** Mean evaluation loss right after pruning (the new adapter is still zero, so: the pruned model's loss). */
  lossAfterPruning: number;
  /** Training loss of every adapter step of this stage. */
  losses: number[];
  /** Mean evaluation loss after this stage's training. */
  lossAfterTraining: number;
}

export interface LosaScheduleResult {
  /** The last stage's adapter, still attached and unmerged (merge it for inference). */
  adapter: Adapter;
  stages: LosaStageReport[];
  /** The `losa` config of the final adapter: attach it again after merging to start federated rounds. */
  finalConfig: LosaPruneStepReport['adapterConfig'];
}

/** Mean loss over `batches` (no gradients, nothing kept). */
export function meanLoss(model: Pick<AdaptableModel, 'loss'>, batches: readonly Batch[]): number {
  let total = 0;
  for (const b of batches) total += tf.tidy(() => model.loss(b).dataSync()[0] ?? NaN);
  return total / batches.length;
}

/** The whole schedule: T stages of `losaPruneStep` + local adapter training (see the file comment). */
export function runLosaSchedule(model: AdaptableModel, options: LosaScheduleOptions): LosaScheduleResult {
  const config = parseLosaScheduleConfig(options.config);
  if (options.batches.length === 0) {
    throw new FedpeftError('NO_TRAINING_DATA', 'runLosaSchedule needs at least one training batch');
  }
  const calibration = options.calibration ?? options.batches.slice(0, 1);
  const evaluation = options.evaluation ?? calibration;
  const stages: LosaStageReport[] = [];
  let adapter: Adapter | null = null;
  let cursor = 0;
  for (let t = 1; t <= config.steps; t++) {
    const step = losaPruneStep(model, adapter, {
      sparsity: cubicSparsity(config.targetSparsity, t, config.steps),
      calibration,
      seed: options.seed,
      config,
    });
    const current = step.adapter;
    adapter = current;
    const lossAfterPruning = meanLoss(model, evaluation);
    const optimizer = new AdamW(options.optimizer ?? { learningRate: 1e-3 }, {
      learningRateScale: (v) => current.learningRateScale(v),
    });
    const losses: number[] = [];
    try {
      const variables = current.trainableVariables();
      for (let s = 0; s < config.stepsPerStage; s++) {
        const batch = options.batches[cursor++ % options.batches.length] as Batch;
        losses.push(trainStep(model, batch, variables, optimizer));
      }
    } finally {
      optimizer.dispose();
    }
    const report: LosaStageReport = {
      ...step.report,
      stage: t,
      lossAfterPruning,
      losses,
      lossAfterTraining: meanLoss(model, evaluation),
    };
    stages.push(report);
    options.onStage?.(report);
  }
  const last = stages.at(-1) as LosaStageReport;
  return { adapter: adapter as Adapter, stages, finalConfig: last.adapterConfig };
}
