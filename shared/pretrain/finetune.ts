/**
 * Centralized (pooled, non-federated) fine-tuning of one adapter method from a base model: the upper bound a
 * federated run of the same method is compared with. Scores the held-out stream before and after with the
 * same deterministic windows, so "before" and "after" (and different methods) are directly comparable.
 *
 * LoSA is not attach-and-train: it runs the paper's T-step prune-and-train schedule on the same total steps
 * (`losa-finetune.ts`), and its result carries the extra `losa` report.
 *
 * Browser-safe: the caller supplies the model and token streams.
 */
import { FedpeftError } from '../errors.ts';
import type { LanguageModel } from '../model/zoo.ts';
import { attachAdapter } from '../adapters/registry.ts';
import type { Adapter } from '../adapters/types.ts';
import { summarizeAdapter } from '../adapters/summary.ts';
import type { LanguageModelMetrics } from '../eval/language-model.ts';
import { LmTrainer } from './lm-trainer.ts';
import { evaluateOnStream } from './stream-evaluation.ts';
import { finetuneLosa, type LosaFinetuneReport } from './losa-finetune.ts';

/** Peak learning rate when none is given (AdamW, warm-up then cosine). */
export const DEFAULT_FINETUNE_LR = 3e-3;

export interface FinetuneOptions {
  /**
   * The base model. The adapter is detached at the end (unless kept), which leaves the base as it was —
   * except for chained methods, whose completed links are folded into the base kernels by design. LoSA puts
   * the dense kernels back; with `keepAdapter` it leaves the pruned, stage-merged base under its adapter.
   */
  model: LanguageModel;
  method: string;
  /**
   * The method's config (validated by its schema; `{}` = the paper's defaults). For LoSA: the schedule's
   * config (`LosaScheduleConfigSchema`: targetSparsity, T = `steps`, rank, maxRank, ...).
   */
  methodConfig?: unknown;
  seed: number;
  trainStream: Int32Array;
  evalStream: Int32Array;
  steps: number;
  /** Default 8. */
  batchSize?: number;
  /**
   * Tokens per training/evaluation window. Default: the model's context length (Hugging Face Llama bases
   * declare thousands; a shorter window trains the same weights at a fraction of the memory).
   */
  contextLength?: number;
  /** Peak AdamW learning rate. Default `DEFAULT_FINETUNE_LR`. */
  learningRate?: number;
  /** Default 10% of the steps. Not used by LoSA (a constant rate per stage). */
  warmupSteps?: number;
  /** AdamW weight decay. Default 0 (adapters start at zero; decaying them toward zero fights the update). */
  weightDecay?: number;
  /** Held-out windows scored before and after (evenly spaced). Default: all. */
  evalWindows?: number;
  /**
   * Chained methods (c³LA, CoLA, ...): steps per link; the adapter folds into the base and moves on after
   * each. Default: 4 links over the run.
   */
  stepsPerLink?: number;
  /** Keep the adapter attached (and return it); the caller must then `detach()` it. Default false. */
  keepAdapter?: boolean;
  onStep?(info: { step: number; loss: number; learningRate: number }): void;
}

export interface FinetuneResult {
  method: string;
  before: LanguageModelMetrics;
  after: LanguageModelMetrics;
  trainableParams: number;
  sharedParams: number;
  steps: number;
  /**
   * Seconds spent in training steps (evaluation excluded). LoSA: the whole schedule, its T pruning stages
   * and small per-stage evaluations included.
   */
  trainSeconds: number;
  /** Links completed by a chained method (0 otherwise). */
  links: number;
  adapter?: Adapter;
  /** LoSA only: the pruned-untrained reference, the final sparsity and the per-stage reports. */
  losa?: LosaFinetuneReport;
}

export function finetuneLanguageModel(options: FinetuneOptions): FinetuneResult {
  const { model, steps } = options;
  if (!Number.isInteger(steps) || steps < 1) {
    throw new FedpeftError('INVALID_CONFIG', `steps must be a positive integer, got ${steps}`);
  }
  if (options.method === 'losa') {
    return finetuneLosa({ ...options, learningRate: options.learningRate ?? DEFAULT_FINETUNE_LR });
  }
  const contextLength = options.contextLength ?? model.config.contextLength;
  if (!Number.isInteger(contextLength) || contextLength < 2 || contextLength > model.config.contextLength) {
    throw new FedpeftError(
      'INVALID_CONFIG',
      `contextLength must be a whole number in 2..${model.config.contextLength} (the model's), got ${contextLength}`,
    );
  }
  const evaluate = () =>
    evaluateOnStream(model, options.evalStream, { contextLength, maxWindows: options.evalWindows });
  const before = evaluate();
  const adapter = attachAdapter(model, options.method, options.methodConfig ?? {}, { seed: options.seed });
  let trainer: LmTrainer | null = null;
  try {
    const variables = new Map(adapter.trainableVariables().map((v, i) => [`adapter/${i}/${v.name}`, v]));
    trainer = new LmTrainer({
      model,
      variables,
      trainStream: options.trainStream,
      batchSize: options.batchSize ?? 8,
      contextLength,
      seed: options.seed,
      schedule: {
        peak: options.learningRate ?? DEFAULT_FINETUNE_LR,
        warmupSteps: options.warmupSteps ?? Math.max(1, Math.round(steps / 10)),
        minRatio: 0.1,
      },
      budget: { maxSteps: steps },
      weightDecay: options.weightDecay ?? 0,
      clipNorm: 1,
      learningRateScale: (v) => adapter.learningRateScale(v),
    });
    const chained = adapter.currentLink !== undefined;
    const stepsPerLink = options.stepsPerLink ?? Math.max(1, Math.ceil(steps / 4));
    let links = 0;
    while (!trainer.done) {
      const loss = trainer.trainStep();
      const step = trainer.progress.step;
      options.onStep?.({ step, loss, learningRate: trainer.lastLearningRate });
      if (chained && step % stepsPerLink === 0 && step < steps) {
        // The folded link's B is now part of the base and the new B starts at zero: its Adam moments belong
        // to the old link, so they are reset rather than carried into the new one.
        adapter.advanceLink?.();
        trainer.resetMoments();
        links++;
      }
    }
    const after = evaluate();
    const summary = summarizeAdapter(adapter);
    const result: FinetuneResult = {
      method: options.method,
      before,
      after,
      trainableParams: summary.trainableParams,
      sharedParams: summary.sharedParams,
      steps: trainer.progress.step,
      trainSeconds: trainer.progress.elapsedSeconds,
      links,
    };
    if (options.keepAdapter) result.adapter = adapter;
    return result;
  } finally {
    trainer?.dispose();
    if (!options.keepAdapter) adapter.detach();
  }
}
