/**
 * Hugging Face `config.json`, validated with zod, for the families fedpeft can load (`gpt2`, `llama`,
 * `qwen2`), and the translation to and from fedpeft's own model configs. Shared by import (`load-folder.ts`)
 * and export (merged HF folders), so both sides agree on what each key means.
 *
 * Unknown keys are allowed (real configs carry dozens: `torch_dtype`, `bos_token_id`, ...), but every key that
 * would change the numerics and that fedpeft does not implement is rejected by name: a model that loads must
 * compute what transformers computes.
 */
import { z } from 'zod';
import { FedpeftError } from '../../errors.ts';
import { formatZodError } from '../../config/format-error.ts';
import type { GptConfigInput } from '../gpt-config.ts';
import type { LlamaConfig, LlamaConfigInput } from '../llama-config.ts';

export const HF_FAMILIES = ['gpt2', 'llama', 'qwen2'] as const;
export type HfFamily = (typeof HF_FAMILIES)[number];

const positive = (key: string) =>
  z
    .number()
    .int()
    .positive({ message: `${key} must be a positive integer` });

/** Rejects a key unless it has one of the values fedpeft implements. */
const only = (schema: z.ZodType, what: string) =>
  z
    .unknown()
    .optional()
    .refine((v) => v === undefined || v === null || schema.safeParse(v).success, { message: what });

export const Gpt2HfConfigSchema = z
  .looseObject({
    model_type: z.literal('gpt2'),
    vocab_size: positive('vocab_size'),
    n_positions: positive('n_positions'),
    n_embd: positive('n_embd'),
    n_layer: positive('n_layer'),
    n_head: positive('n_head'),
    n_inner: positive('n_inner').nullable().optional(),
    layer_norm_epsilon: z.number().positive().default(1e-5),
    activation_function: only(
      z.enum(['gelu_new', 'gelu_pytorch_tanh']),
      "activation_function: only 'gelu_new' (GPT-2's tanh GELU) is supported",
    ),
    tie_word_embeddings: z.boolean().default(true),
  })
  .refine((c) => c.n_embd % c.n_head === 0, {
    message: 'n_embd must be divisible by n_head',
    path: ['n_head'],
  });

export const LlamaHfConfigSchema = z.looseObject({
  model_type: z.enum(['llama', 'qwen2']),
  vocab_size: positive('vocab_size'),
  hidden_size: positive('hidden_size'),
  intermediate_size: positive('intermediate_size'),
  num_hidden_layers: positive('num_hidden_layers'),
  num_attention_heads: positive('num_attention_heads'),
  num_key_value_heads: positive('num_key_value_heads').nullable().optional(),
  head_dim: positive('head_dim').nullable().optional(),
  max_position_embeddings: positive('max_position_embeddings'),
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().default(10000),
  tie_word_embeddings: z.boolean().default(false),
  initializer_range: z.number().positive().default(0.02),
  hidden_act: only(z.literal('silu'), "hidden_act: only 'silu' (SwiGLU) is supported"),
  attention_bias: z.boolean().default(false),
  mlp_bias: only(z.literal(false), 'mlp_bias: true is not supported (no Llama checkpoint in use sets it)'),
  rope_scaling: only(
    z.null(),
    'rope_scaling is not supported yet (Llama 3.1+ "llama3" scaling, YaRN, dynamic NTK): use a model with rope_scaling null',
  ),
  use_sliding_window: only(
    z.literal(false),
    'use_sliding_window: true is not supported (full causal attention only)',
  ),
  pretraining_tp: only(z.literal(1), 'pretraining_tp > 1 is not supported'),
});

export type Gpt2HfConfig = z.output<typeof Gpt2HfConfigSchema>;
export type LlamaHfConfig = z.output<typeof LlamaHfConfigSchema>;
export type HfConfig = Gpt2HfConfig | LlamaHfConfig;

function invalid(source: string, message: string): FedpeftError {
  return new FedpeftError('INVALID_HF_CONFIG', `${source}: ${message}`);
}

/** Parses a `config.json` object; an unsupported `model_type` or option is an error naming it. */
export function parseHfConfig(raw: unknown, source = 'config.json'): HfConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw invalid(source, 'must be a JSON object');
  const modelType = (raw as { model_type?: unknown }).model_type;
  if (typeof modelType !== 'string') throw invalid(source, 'has no "model_type" string');
  if (!(HF_FAMILIES as readonly string[]).includes(modelType)) {
    throw invalid(source, `model_type '${modelType}' is not supported; supported: ${HF_FAMILIES.join(', ')}`);
  }
  const schema = modelType === 'gpt2' ? Gpt2HfConfigSchema : LlamaHfConfigSchema;
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    throw invalid(source, `unsupported or invalid ${modelType} config:\n${formatZodError(parsed.error)}`);
  return parsed.data;
}

export function isGpt2Config(c: HfConfig): c is Gpt2HfConfig {
  return c.model_type === 'gpt2';
}

export function gptConfigFromHf(c: Gpt2HfConfig): GptConfigInput {
  return {
    vocabSize: c.vocab_size,
    contextLength: c.n_positions,
    dModel: c.n_embd,
    layers: c.n_layer,
    heads: c.n_head,
    mlpRatio: (c.n_inner ?? 4 * c.n_embd) / c.n_embd,
    tiedHead: c.tie_word_embeddings,
    bias: true,
    layerNormEps: c.layer_norm_epsilon,
  };
}

export function llamaConfigFromHf(c: LlamaHfConfig): LlamaConfigInput {
  const qwen2 = c.model_type === 'qwen2';
  return {
    vocabSize: c.vocab_size,
    contextLength: c.max_position_embeddings,
    dModel: c.hidden_size,
    layers: c.num_hidden_layers,
    heads: c.num_attention_heads,
    kvHeads: c.num_key_value_heads ?? c.num_attention_heads,
    ...(c.head_dim ? { headDim: c.head_dim } : {}),
    intermediateSize: c.intermediate_size,
    rmsNormEps: c.rms_norm_eps,
    ropeTheta: c.rope_theta,
    tiedHead: c.tie_word_embeddings,
    // Qwen2 always has q/k/v biases and no o bias; Llama's attention_bias puts biases on all four.
    qkvBias: qwen2 || c.attention_bias,
    oBias: !qwen2 && c.attention_bias,
    initStd: c.initializer_range,
  };
}

/** The `config.json` describing a fedpeft Llama (for export). Qwen2 iff q/k/v biases without an o bias. */
export function hfConfigFromLlama(c: LlamaConfig): Record<string, unknown> {
  const qwen2 = c.qkvBias && !c.oBias;
  if (c.qkvBias !== c.oBias && !qwen2) throw new Error('an o bias without q/k/v biases has no HF family');
  return {
    architectures: [qwen2 ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    model_type: qwen2 ? 'qwen2' : 'llama',
    vocab_size: c.vocabSize,
    hidden_size: c.dModel,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    num_key_value_heads: c.kvHeads,
    head_dim: c.headDim,
    max_position_embeddings: c.contextLength,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    tie_word_embeddings: c.tiedHead,
    hidden_act: 'silu',
    initializer_range: c.initStd,
    rope_scaling: null,
    ...(qwen2 ? { use_sliding_window: false } : { attention_bias: c.qkvBias, mlp_bias: false }),
    torch_dtype: 'float32',
  };
}
