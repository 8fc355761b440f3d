/**
 * Centralized LoSA fine-tuning with the paper's schedule (`runLosaSchedule`): T = 5 prune-and-train stages on
 * the cubic ramp `S (1 - (1 - t/T)^3)`, each merging the previous adapter, pruning the merged weights,
 * re-deriving masks and ranks, then training — instead of attach-and-train on a base pruned once.
 *
 * Comparable with the other methods of `finetuneLanguageModel`: the same TOTAL number of training steps, split
 * evenly over the T stages, on exactly the batches `LmTrainer` draws for those steps (its `batches` / `batch:s`
 * forks of the seed), with the same peak learning rate, weight decay and clipping. What differs, by the
 * schedule's design: every stage trains a fresh adapter with a fresh AdamW at a constant rate (no warm-up or
 * cosine decay, which `runLosaSchedule` does not offer), and the timed part includes the pruning.
 *
 * Besides the dense "before", the run scores the base pruned in one shot to the target with no training, so
 * the cost of pruning and what the schedule recovers are both visible.
 */
import { Rng } from '../tensor/rng.ts';
import { FedpeftError } from '../errors.ts';
import type { Batch } from '../model/types.ts';
import { disposeBatch, evalWindows, sampleLmBatch, windowsToBatch } from '../data/lm-batches.ts';
import {
  parseLosaScheduleConfig,
  runLosaSchedule,
  type LosaScheduleResult,
  type LosaStageReport,
} from '../pruning/losa-schedule.ts';
import { summarizeAdapter } from '../adapters/summary.ts';
import type { LanguageModelMetrics } from '../eval/language-model.ts';
import { evaluateOnStream } from './stream-evaluation.ts';
import { evaluateOneShotPruned, snapshotKernels } from './losa-base.ts';
import type { FinetuneOptions, FinetuneResult } from './finetune.ts';

/** Evenly spaced training windows Wanda and CKA calibrate on (one batch, as in the paper's small calibration set). */
export const LOSA_CALIBRATION_WINDOWS = 8;
/** Evenly spaced held-out windows the per-stage losses are reported on (progress only; cheap). */
export const LOSA_STAGE_EVAL_WINDOWS = 8;

export interface LosaFinetuneReport {
  /** The dense base pruned in one shot to the target sparsity by the same pruner, not trained. */
  prunedUntrained: LanguageModelMetrics;
  /** Mean over decoder layers of the final achieved zero fraction of the pruned kernels. */
  sparsity: number;
  /** Training steps per stage (the total steps / T). */
  stepsPerStage: number;
  /** One report per stage: target, achieved sparsity per layer, ranks, losses on held-out windows. */
  stages: LosaStageReport[];
}

/**
 * The LoSA path of `finetuneLanguageModel` (which validates `steps` and resolves the learning rate). The
 * method config is LoSA's schedule config (`LosaScheduleConfigSchema`: targetSparsity 0.5, T = 5, rank 8,
 * ...); `stepsPerStage` is derived from `steps` and may be omitted.
 */
export function finetuneLosa(options: FinetuneOptions & { learningRate: number }): FinetuneResult {
  const { model, steps } = options;
  const config = losaScheduleForSteps(options.methodConfig, steps);
  const contextLength = model.config.contextLength;
  const evaluate = () =>
    evaluateOnStream(model, options.evalStream, { contextLength, maxWindows: options.evalWindows });
  const before = evaluate();
  const windowBatch = (stream: Int32Array, count: number): Batch =>
    windowsToBatch(stream, evalWindows(stream, contextLength, count).starts, contextLength);
  const batches: Batch[] = [];
  const calibration = windowBatch(options.trainStream, LOSA_CALIBRATION_WINDOWS);
  const stageEvaluation = windowBatch(options.evalStream, LOSA_STAGE_EVAL_WINDOWS);
  const dense = snapshotKernels(model);
  let schedule: LosaScheduleResult | null = null;
  try {
    const oneShot = evaluateOneShotPruned(model, {
      sparsity: config.targetSparsity,
      calibration: [calibration],
      seed: options.seed,
      config,
      evaluate,
    });
    // The batches LmTrainer would draw for steps 0..steps-1, so LoSA sees the same data as every other method.
    const batchRng = new Rng(options.seed).fork('batches');
    const batchSize = options.batchSize ?? 8;
    for (let s = 0; s < steps; s++)
      batches.push(
        sampleLmBatch(options.trainStream, { batchSize, contextLength }, batchRng.fork(`batch:${s}`)),
      );
    const started = performance.now();
    schedule = runLosaSchedule(model, {
      batches,
      calibration: [calibration],
      evaluation: [stageEvaluation],
      seed: options.seed,
      config,
      optimizer: {
        learningRate: options.learningRate,
        weightDecay: options.weightDecay ?? 0,
        clipNorm: 1,
      },
      onStage: (stage) =>
        options.onStep?.({
          step: stage.stage * config.stepsPerStage,
          loss: stage.losses.at(-1) ?? stage.lossAfterTraining,
          learningRate: options.learningRate,
        }),
    });
    const trainSeconds = (performance.now() - started) / 1000;
    for (const stage of schedule.stages) {
      const bad = stage.losses.find((l) => !Number.isFinite(l));
      if (bad !== undefined) {
        throw new FedpeftError(
          'TRAINING_DIVERGED',
          `LoSA training loss became ${bad} in stage ${stage.stage}; lower the learning rate`,
        );
      }
    }
    const after = evaluate();
    const summary = summarizeAdapter(schedule.adapter);
    const last = schedule.stages.at(-1) as LosaStageReport;
    const result: FinetuneResult = {
      method: options.method,
      before,
      after,
      trainableParams: summary.trainableParams,
      sharedParams: summary.sharedParams,
      steps: schedule.stages.reduce((n, s) => n + s.losses.length, 0),
      trainSeconds,
      links: 0,
      losa: {
        prunedUntrained: oneShot.metrics,
        sparsity: last.meanSparsity,
        stepsPerStage: config.stepsPerStage,
        stages: schedule.stages,
      },
    };
    if (options.keepAdapter) result.adapter = schedule.adapter;
    return result;
  } finally {
    for (const b of batches) disposeBatch(b);
    disposeBatch(calibration);
    disposeBatch(stageEvaluation);
    // Unless the caller keeps the pruned model and its adapter, the base goes back to dense, as with every
    // other method. (If the schedule threw mid-stage, its adapter is unreachable: discard the model then.)
    if (!options.keepAdapter) {
      schedule?.adapter.detach();
      dense.restore();
    }
  }
}

/**
 * LoSA's schedule config with `stepsPerStage = steps / T`; throws a `FedpeftError` a person can act on when
 * the config is invalid or the total does not split evenly over the stages (callers may check up front).
 */
export function losaScheduleForSteps(methodConfig: unknown, steps: number) {
  const given = parseLosaScheduleConfig(methodConfig ?? {});
  const T = given.steps;
  if (steps % T !== 0) {
    const lower = Math.max(T, Math.floor(steps / T) * T);
    throw new FedpeftError(
      'INVALID_CONFIG',
      `LoSA splits its ${steps} training steps evenly over its T = ${T} prune-and-train stages: give a ` +
        `multiple of ${T} (e.g. ${lower} or ${lower + T})`,
    );
  }
  const explicit =
    typeof methodConfig === 'object' && methodConfig !== null && 'stepsPerStage' in methodConfig;
  if (explicit && given.stepsPerStage * T !== steps) {
    throw new FedpeftError(
      'INVALID_CONFIG',
      `LoSA config stepsPerStage = ${given.stepsPerStage} x T = ${T} stages != ${steps} training steps; ` +
        'omit stepsPerStage (it is derived from the steps) or make them agree',
    );
  }
  return { ...given, stepsPerStage: steps / T };
}
