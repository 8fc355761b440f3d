/**
 * The training loop's state machine for language models, shared by pretraining (every base parameter trained)
 * and centralized fine-tuning (an adapter's variables trained): seeded batches, AdamW, warm-up + cosine
 * schedule, a step and a wall-time budget, and an exportable state so a run can stop and resume exactly.
 *
 * Determinism: the batch of step `s` comes from `rng.fork('batch:s')`, so the data position *is* the step
 * counter and a resumed run draws exactly the batches the uninterrupted run would have. With a step budget the
 * schedule is a function of the step as well, so a resumed run reproduces the uninterrupted one bit for bit
 * (same backend). A time budget makes the schedule depend on measured time, which is by nature not repeatable.
 *
 * Browser-safe: no file system here; persistence is `training-state.node.ts`.
 */
import { tf } from '../tensor/tf.ts';
import { Rng } from '../tensor/rng.ts';
import { toHost, fromHost, type HostTensorMap } from '../tensor/host-tensor.ts';
import { FedpeftError } from '../errors.ts';
import type { AdaptableModel } from '../model/types.ts';
import { AdamW } from '../train/adamw.ts';
import { trainStep } from '../train/train-step.ts';
import { disposeBatch, sampleLmBatch } from '../data/lm-batches.ts';
import { trainingProgress, warmupCosineLr, type LrScheduleOptions } from './lr-schedule.ts';

export interface LmTrainerOptions {
  model: AdaptableModel;
  /** The trained variables by a stable name (parameter names, adapter tensor names): state is keyed by them. */
  variables: ReadonlyMap<string, tf.Variable>;
  trainStream: Int32Array;
  batchSize: number;
  contextLength: number;
  seed: number;
  schedule: LrScheduleOptions;
  budget: { maxSteps?: number | undefined; maxSeconds?: number | undefined };
  weightDecay?: number;
  clipNorm?: number;
  /** Per-variable learning-rate multiplier (LoRA+). */
  learningRateScale?: (variable: tf.Variable) => number;
}

/** Scalars that describe where a run is; persisted beside the tensors. */
export interface LmTrainerProgress {
  step: number;
  /** Seconds spent in training steps (evaluation and checkpoint writing excluded). */
  elapsedSeconds: number;
  tokensSeen: number;
  /** Exponential moving average of the training loss (nats/token); NaN before the first step. */
  lossEma: number;
}

const OPTIMIZER_PREFIX = 'adamw/';

export class LmTrainer {
  readonly model: AdaptableModel;
  readonly optimizer: AdamW;
  private readonly options: LmTrainerOptions;
  private readonly batchRng: Rng;
  private readonly nameOfVariable = new Map<string, string>();
  private progressState: LmTrainerProgress = { step: 0, elapsedSeconds: 0, tokensSeen: 0, lossEma: NaN };
  /** The learning rate of the last update. */
  lastLearningRate = 0;

  constructor(options: LmTrainerOptions) {
    if (options.variables.size === 0)
      throw new FedpeftError('NOTHING_TO_TRAIN', 'LmTrainer: no variables to train');
    if (options.budget.maxSteps === undefined && options.budget.maxSeconds === undefined) {
      throw new FedpeftError('INVALID_CONFIG', 'LmTrainer: give a step budget, a time budget, or both');
    }
    this.options = options;
    this.model = options.model;
    this.batchRng = new Rng(options.seed).fork('batches');
    for (const [name, v] of options.variables) this.nameOfVariable.set(v.name, name);
    this.optimizer = new AdamW(
      {
        learningRate: options.schedule.peak,
        weightDecay: options.weightDecay ?? 0.01,
        ...(options.clipNorm !== undefined ? { clipNorm: options.clipNorm } : {}),
      },
      options.learningRateScale ? { learningRateScale: options.learningRateScale } : {},
    );
  }

  get progress(): Readonly<LmTrainerProgress> {
    return this.progressState;
  }

  /** Fraction of the budget used, in [0, 1]. */
  get fractionDone(): number {
    const p = this.progressState;
    return trainingProgress(p.step, p.elapsedSeconds, this.options.budget);
  }

  get done(): boolean {
    return this.fractionDone >= 1;
  }

  /** One update on the batch of the current step; returns its loss (nats/token). */
  trainStep(): number {
    const { model, trainStream, batchSize, contextLength, schedule } = this.options;
    const p = this.progressState;
    const started = performance.now();
    this.optimizer.learningRate = warmupCosineLr(p.step, this.fractionDone, schedule);
    this.lastLearningRate = this.optimizer.learningRate;
    const batch = sampleLmBatch(
      trainStream,
      { batchSize, contextLength },
      this.batchRng.fork(`batch:${p.step}`),
    );
    let loss: number;
    try {
      loss = trainStep(model, batch, [...this.options.variables.values()], this.optimizer);
    } finally {
      disposeBatch(batch);
    }
    if (!Number.isFinite(loss)) {
      throw new FedpeftError(
        'TRAINING_DIVERGED',
        `training loss became ${loss} at step ${p.step}; lower the learning rate or raise warm-up`,
      );
    }
    this.progressState = {
      step: p.step + 1,
      elapsedSeconds: p.elapsedSeconds + (performance.now() - started) / 1000,
      tokensSeen: p.tokensSeen + batchSize * contextLength,
      lossEma: Number.isNaN(p.lossEma) ? loss : 0.98 * p.lossEma + 0.02 * loss,
    };
    return loss;
  }

  /**
   * Optimizer moments as host tensors keyed by the stable variable names (tfjs variable names are not stable
   * across processes or model instances), plus the step counter.
   */
  exportOptimizerState(): HostTensorMap {
    const state = this.optimizer.exportState();
    const out: HostTensorMap = new Map();
    try {
      for (const [key, t] of state) {
        const m = /^adamw\/([mv])\/(.+)$/.exec(key);
        if (!m) {
          out.set(key, toHost(t));
          continue;
        }
        const stable = this.nameOfVariable.get(m[2] as string);
        if (stable === undefined) throw new Error(`optimizer state for an unknown variable '${m[2]}'`);
        out.set(`${OPTIMIZER_PREFIX}${m[1]}/${stable}`, toHost(t));
      }
    } finally {
      tf.dispose([...state.values()]);
    }
    return out;
  }

  /** Restores moments exported by `exportOptimizerState` (possibly by another process) and the progress. */
  importState(optimizer: HostTensorMap, progress: LmTrainerProgress): void {
    const byStable = new Map<string, string>();
    for (const [name, v] of this.options.variables) byStable.set(name, v.name);
    const tensors = new Map<string, tf.Tensor>();
    try {
      for (const [key, h] of optimizer) {
        const m = /^adamw\/([mv])\/(.+)$/.exec(key);
        if (!m) {
          tensors.set(key, fromHost(h));
          continue;
        }
        const live = byStable.get(m[2] as string);
        if (live === undefined) {
          throw new FedpeftError(
            'OPTIMIZER_STATE_MISMATCH',
            `the saved optimizer state has moments for '${m[2]}', which this model does not train`,
          );
        }
        tensors.set(`${OPTIMIZER_PREFIX}${m[1]}/${live}`, fromHost(h));
      }
      this.optimizer.importState(tensors);
    } finally {
      tf.dispose([...tensors.values()]);
    }
    if (this.optimizer.step !== progress.step) {
      throw new FedpeftError(
        'OPTIMIZER_STATE_MISMATCH',
        `the saved optimizer has taken ${this.optimizer.step} steps but the run records ${progress.step}`,
      );
    }
    this.progressState = { ...progress };
  }

  /**
   * Start Adam afresh (moments and bias correction) for variables that were re-initialised, e.g. a chained
   * adapter's new link. The learning-rate schedule follows the trainer's own step counter and continues.
   */
  resetMoments(): void {
    const step = tf.scalar(0, 'float32');
    try {
      this.optimizer.importState(new Map([['adamw/step', step]]));
    } finally {
      step.dispose();
    }
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
