/**
 * A pretraining run (Node-only: it reads the corpus packages and writes checkpoints). Trains every parameter
 * of a zoo GPT on a corpus's training documents, validates on held-out documents every `evalEvery` steps,
 * and writes, at each validation and at the end:
 *
 * - `training-state.safetensors`: weights + optimizer + counters + history (what `resume` reads; one atomic file),
 * - `model.safetensors` + `config.json`: the published model, loadable with `loadCheckpoint(dir)`,
 * - `pretrain.json` (at the end): config, final validation, unigram baseline, history — for people and caches.
 *
 * The loop yields to the event loop after every step, so progress bars redraw, lock heartbeats fire and an
 * abort signal (Ctrl-C) is seen within one step; an aborted run checkpoints before returning.
 */
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { FedpeftError } from '../errors.ts';
import { Rng } from '../tensor/rng.ts';
import { tf } from '../tensor/tf.ts';
import { createModel } from '../model/zoo.ts';
import type { Gpt } from '../model/gpt.ts';
import { assignParameters, saveCheckpoint } from '../model/checkpoint.ts';
import { loadCorpus } from '../data/corpora.ts';
import { splitDocuments } from '../data/document-split.ts';
import { buildTokenStream } from '../data/lm-batches.ts';
import type { LanguageModelMetrics } from '../eval/language-model.ts';
import { LmTrainer } from './lm-trainer.ts';
import {
  parsePretrainConfig,
  RESUMABLE_CHANGES,
  trainingIdentity,
  type PretrainConfig,
  type PretrainConfigInput,
} from './pretrain-config.ts';
import { evaluateOnStream, unigramBitsPerToken } from './stream-evaluation.ts';
import {
  loadTrainingState,
  saveTrainingState,
  TRAINING_STATE_FILE,
  type EvalRecord,
} from './training-state.node.ts';

export const SUMMARY_FILE = 'pretrain.json';

export interface PretrainStepInfo {
  step: number;
  loss: number;
  lossEma: number;
  learningRate: number;
  /** Training tokens per second of step time, over the run so far. */
  tokensPerSecond: number;
  fractionDone: number;
  elapsedSeconds: number;
}

export interface PretrainEvents {
  onStart?(info: {
    resumedFromStep: number;
    trainTokens: number;
    validationTokens: number;
    parameters: number;
  }): void;
  onStep?(info: PretrainStepInfo): void;
  onEval?(record: EvalRecord): void;
  onCheckpoint?(step: number): void;
}

export interface PretrainRunOptions {
  config: PretrainConfigInput;
  /** Run directory: checkpoints, training state and the summary go here. */
  outDir: string;
  /** Continue from `outDir`'s training state (the budget may be raised; nothing else may change). */
  resume?: boolean;
  /** Stop early (Ctrl-C): the run checkpoints and returns with `stoppedBy: 'signal'`. */
  signal?: AbortSignal;
  events?: PretrainEvents;
}

export interface PretrainResult {
  dir: string;
  config: PretrainConfig;
  steps: number;
  elapsedSeconds: number;
  tokensSeen: number;
  /** Final validation on up to `finalEvalWindows` windows of the held-out documents. */
  validation: LanguageModelMetrics;
  /** Unigram (byte-frequency) cross-entropy on the same held-out stream: the "learned nothing" line. */
  unigramBitsPerByte: number;
  history: EvalRecord[];
  stoppedBy: 'budget' | 'signal';
  /** The trained model; the caller owns it and must `dispose()` it. */
  model: Gpt;
}

/** The summary file's content (`pretrain.json`). */
export interface PretrainSummary {
  format: 'fedpeft-pretrain-summary';
  config: PretrainConfig;
  identity: Record<string, unknown>;
  steps: number;
  elapsedSeconds: number;
  tokensSeen: number;
  validation: LanguageModelMetrics;
  unigramBitsPerByte: number;
  history: EvalRecord[];
  /** 'budget' when the run used its whole budget; 'signal' when it was stopped early (a partial model). */
  stoppedBy: 'budget' | 'signal';
  backend: string;
  date: string;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Train / validation token streams from whole documents of the corpus (seeded split). */
export function pretrainStreams(config: PretrainConfig): { train: Int32Array; validation: Int32Array } {
  const corpus = loadCorpus(config.corpus);
  const split = splitDocuments(
    corpus.documents,
    { validation: config.validationFraction, test: 0 },
    new Rng(config.seed).fork('validation-split'),
  );
  return {
    train: buildTokenStream(split.train.map((d) => d.text)),
    validation: buildTokenStream(split.validation.map((d) => d.text)),
  };
}

function checkResumable(saved: PretrainConfig, now: PretrainConfig): void {
  const a = trainingIdentity(saved);
  const b = trainingIdentity(now);
  const changed = Object.keys(a).filter(
    (k) =>
      !(RESUMABLE_CHANGES as readonly string[]).includes(k) && JSON.stringify(a[k]) !== JSON.stringify(b[k]),
  );
  if (changed.length > 0) {
    throw new FedpeftError(
      'CHECKPOINT_MISMATCH',
      `cannot resume: the checkpoint was trained with different ${changed
        .map((k) => `${k} (${JSON.stringify(a[k])}, now ${JSON.stringify(b[k])})`)
        .join(', ')}; only the budget (minutes, steps) may change on resume`,
    );
  }
}

export async function runPretraining(options: PretrainRunOptions): Promise<PretrainResult> {
  const config = parsePretrainConfig(options.config);
  const dir = options.outDir;
  const events = options.events ?? {};
  const hasState = await exists(join(dir, TRAINING_STATE_FILE));
  if (options.resume && !hasState) {
    throw new FedpeftError(
      'CHECKPOINT_NOT_FOUND',
      `cannot resume: ${join(dir, TRAINING_STATE_FILE)} does not exist; start without --resume`,
    );
  }
  if (!options.resume && hasState) {
    throw new FedpeftError(
      'OUTPUT_EXISTS',
      `${dir} already holds a pretraining run; pass --resume to continue it or choose another --out`,
    );
  }
  await mkdir(dir, { recursive: true });

  const streams = pretrainStreams(config);
  const model = createModel(config.size, { seed: config.seed });
  let trainer: LmTrainer | null = null;
  try {
    model.setBaseTrainable(true);
    const params = model.parameters();
    const contextLength = model.config.contextLength;
    trainer = new LmTrainer({
      model,
      variables: params,
      trainStream: streams.train,
      batchSize: config.batchSize,
      contextLength,
      seed: config.seed,
      schedule: { peak: config.learningRate, warmupSteps: config.warmupSteps, minRatio: config.minLrRatio },
      budget: {
        maxSteps: config.steps,
        maxSeconds: config.minutes !== undefined ? config.minutes * 60 : undefined,
      },
      weightDecay: config.weightDecay,
      clipNorm: config.clipNorm,
    });
    let history: EvalRecord[] = [];
    if (options.resume) {
      const saved = await loadTrainingState(dir);
      checkResumable(saved.config, config);
      assignParameters(model, saved.weights, join(dir, TRAINING_STATE_FILE));
      trainer.importState(saved.optimizer, saved.progress);
      history = saved.history;
    }
    events.onStart?.({
      resumedFromStep: trainer.progress.step,
      trainTokens: streams.train.length,
      validationTokens: streams.validation.length,
      parameters: [...params.values()].reduce((s, v) => s + v.size, 0),
    });

    const validate = (maxWindows: number) =>
      evaluateOnStream(model, streams.validation, { contextLength, maxWindows });
    const checkpoint = async () => {
      await saveTrainingState(dir, model, trainer as LmTrainer, config, history);
      await saveCheckpoint(dir, model, { step: String((trainer as LmTrainer).progress.step) });
      events.onCheckpoint?.((trainer as LmTrainer).progress.step);
    };

    let stoppedBy: 'budget' | 'signal' = 'budget';
    while (!trainer.done) {
      if (options.signal?.aborted) {
        stoppedBy = 'signal';
        break;
      }
      const loss = trainer.trainStep();
      const p = trainer.progress;
      events.onStep?.({
        step: p.step,
        loss,
        lossEma: p.lossEma,
        learningRate: trainer.lastLearningRate,
        tokensPerSecond: p.tokensSeen / Math.max(p.elapsedSeconds, 1e-9),
        fractionDone: trainer.fractionDone,
        elapsedSeconds: p.elapsedSeconds,
      });
      if (p.step % config.evalEvery === 0 && !trainer.done) {
        const m = validate(config.evalWindows);
        const record: EvalRecord = {
          step: p.step,
          elapsedSeconds: p.elapsedSeconds,
          trainLoss: p.lossEma,
          validationLoss: m.loss,
          validationBitsPerByte: m.bitsPerByte,
        };
        history.push(record);
        events.onEval?.(record);
        await checkpoint();
      }
      // Let timers (progress bar, lock heartbeat) and signals run between steps.
      await new Promise((resolve) => setImmediate(resolve));
    }

    const final = validate(config.finalEvalWindows);
    const p = trainer.progress;
    if (history.at(-1)?.step !== p.step) {
      const record: EvalRecord = {
        step: p.step,
        elapsedSeconds: p.elapsedSeconds,
        trainLoss: p.lossEma,
        validationLoss: final.loss,
        validationBitsPerByte: final.bitsPerByte,
      };
      history.push(record);
      events.onEval?.(record);
    }
    await checkpoint();
    const unigram = unigramBitsPerToken(streams.train, streams.validation, model.config.vocabSize);
    const summary: PretrainSummary = {
      format: 'fedpeft-pretrain-summary',
      config,
      identity: trainingIdentity(config),
      steps: p.step,
      elapsedSeconds: p.elapsedSeconds,
      tokensSeen: p.tokensSeen,
      validation: final,
      unigramBitsPerByte: unigram,
      history,
      stoppedBy,
      backend: tf.getBackend(),
      date: new Date().toISOString(),
    };
    await writeFileAtomic(join(dir, SUMMARY_FILE), `${JSON.stringify(summary, null, 2)}\n`);
    return {
      dir,
      config,
      steps: p.step,
      elapsedSeconds: p.elapsedSeconds,
      tokensSeen: p.tokensSeen,
      validation: final,
      unigramBitsPerByte: unigram,
      history,
      stoppedBy,
      model,
    };
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    trainer?.dispose();
  }
}
