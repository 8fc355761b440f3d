/**
 * What a pretraining run is: model size, corpus, optimisation hyper-parameters and budget. Validated with zod
 * (documented defaults, messages a person can act on). The defaults are the design notes' measured recipe for
 * the product's default base (`tiny-gpt` on Moby-Dick: batch 4, lr 5e-3, ~5 CPU-minutes on wasm).
 *
 * `trainingIdentity()` is the part that decides the resulting weights; the base-model cache hashes it, and
 * `--resume` refuses a checkpoint whose identity differs (except for the budget, which a resume may extend).
 */
import { z } from 'zod';
import { strictObject } from '../config/strict-object.ts';
import { FedpeftError } from '../errors.ts';
import { formatZodError } from '../config/format-error.ts';
import { GPT_SIZES, type GptSizeName } from '../model/zoo.ts';
import { CORPUS_NAMES } from '../data/text-document.ts';

const GPT_SIZE_NAMES = Object.keys(GPT_SIZES) as [GptSizeName, ...GptSizeName[]];

export const PretrainConfigSchema = strictObject({
  /** A GPT size from the model zoo. Default `tiny-gpt` (byte-level, d=96, 2 layers, 3 heads, context 128). */
  size: z
    .enum(GPT_SIZE_NAMES, { error: `size must be one of: ${GPT_SIZE_NAMES.join(', ')}` })
    .default('tiny-gpt'),
  /** Corpus to pretrain on. Default `moby-dick` (the one meant for pretraining; no clients). */
  corpus: z
    .enum(CORPUS_NAMES, { error: `corpus must be one of: ${CORPUS_NAMES.join(', ')}` })
    .default('moby-dick'),
  /** Seeds the initialisation, the validation split and every batch. Default 0. */
  seed: z.number().int('seed must be a whole number').min(0, 'seed must be >= 0').default(0),
  /** Windows per step. Default 4 (more steps per CPU-minute beat bigger batches at this scale). */
  batchSize: z.number().int().min(1, 'batchSize must be >= 1').default(4),
  /** Peak AdamW learning rate. Default 5e-3. */
  learningRate: z.number().positive('learningRate must be > 0').default(5e-3),
  /** Linear warm-up steps. Default 100. */
  warmupSteps: z.number().int().min(0, 'warmupSteps must be >= 0').default(100),
  /** Cosine decay floor as a fraction of the peak. Default 0.1. */
  minLrRatio: z.number().min(0).max(1, 'minLrRatio must be in [0, 1]').default(0.1),
  /** AdamW decoupled weight decay (matrices only). Default 0.01. */
  weightDecay: z.number().min(0, 'weightDecay must be >= 0').default(0.01),
  /** Global gradient-norm clip. Default 1. */
  clipNorm: z.number().positive('clipNorm must be > 0').default(1),
  /** Wall-clock training budget in minutes (evaluation and checkpoints not counted). */
  minutes: z.number().positive('minutes must be > 0').optional(),
  /** Step budget. With `minutes` too, training stops at whichever comes first. */
  steps: z.number().int().min(1, 'steps must be >= 1').optional(),
  /** Fraction of the corpus's documents held out for validation (whole documents). Default 0.1. */
  validationFraction: z.number().gt(0).max(0.5, 'validationFraction must be in (0, 0.5]').default(0.1),
  /** Validate (and checkpoint) every this many steps. Default 250. */
  evalEvery: z.number().int().min(1, 'evalEvery must be >= 1').default(250),
  /** Validation windows scored at each periodic evaluation (evenly spaced, deterministic). Default 64. */
  evalWindows: z.number().int().min(1).default(64),
  /** Validation windows scored at the end (bounded so the final report costs seconds). Default 512. */
  finalEvalWindows: z.number().int().min(1).default(512),
}).refine((c) => c.minutes !== undefined || c.steps !== undefined, {
  message: 'give a budget: minutes, steps, or both',
  path: ['minutes'],
});

export type PretrainConfig = z.output<typeof PretrainConfigSchema>;
export type PretrainConfigInput = z.input<typeof PretrainConfigSchema>;

export function parsePretrainConfig(input: unknown): PretrainConfig {
  const parsed = PretrainConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new FedpeftError('INVALID_CONFIG', `Invalid pretraining config:\n${formatZodError(parsed.error)}`);
  }
  return parsed.data;
}

/** The fields that decide the trained weights (evaluation cadence does not: it draws no random numbers). */
export function trainingIdentity(config: PretrainConfig): Record<string, unknown> {
  return {
    size: config.size,
    corpus: config.corpus,
    seed: config.seed,
    batchSize: config.batchSize,
    learningRate: config.learningRate,
    warmupSteps: config.warmupSteps,
    minLrRatio: config.minLrRatio,
    weightDecay: config.weightDecay,
    clipNorm: config.clipNorm,
    validationFraction: config.validationFraction,
    minutes: config.minutes ?? null,
    steps: config.steps ?? null,
  };
}

/** Fields of the identity a resumed run may change: only the budget. */
export const RESUMABLE_CHANGES = ['minutes', 'steps'] as const;
