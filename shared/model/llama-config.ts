/**
 * The Llama-family configuration (Llama 2/3 without rope scaling, SmolLM2, Qwen2, Mistral without sliding
 * windows) as fedpeft writes it, validated with zod. `shared/model/hf/config-schema.ts` translates a Hugging
 * Face `config.json` into this.
 */
import { z } from 'zod';

export const LlamaConfigSchema = z
  .object({
    /** Token ids are `0..vocabSize-1` (SmolLM2: 49152, Qwen2: 151936, Llama 3: 128256). */
    vocabSize: z.number().int().positive({ message: 'vocabSize must be a positive integer' }),
    /** Longest sequence the rotary tables are built for (`max_position_embeddings`). */
    contextLength: z.number().int().positive({ message: 'contextLength must be a positive integer' }),
    /** Width of the residual stream (`hidden_size`). */
    dModel: z.number().int().positive({ message: 'dModel must be a positive integer' }),
    /** Number of decoder blocks (`num_hidden_layers`). */
    layers: z.number().int().positive({ message: 'layers must be a positive integer' }),
    /** Query heads (`num_attention_heads`). */
    heads: z.number().int().positive({ message: 'heads must be a positive integer' }),
    /** Key/value heads (`num_key_value_heads`); must divide `heads`. Default: `heads` (plain multi-head). */
    kvHeads: z.number().int().positive({ message: 'kvHeads must be a positive integer' }).optional(),
    /** Per-head width (`head_dim`). Default `dModel / heads`. Must be even (rotary pairs halves). */
    headDim: z.number().int().positive().optional(),
    /** SwiGLU hidden width (`intermediate_size`). */
    intermediateSize: z.number().int().positive({ message: 'intermediateSize must be a positive integer' }),
    /** RMSNorm epsilon (`rms_norm_eps`). Default 1e-5 (SmolLM2, Llama 3: 1e-5; Llama 2, Qwen2: 1e-6). */
    rmsNormEps: z.number().positive().default(1e-5),
    /** Rotary base (`rope_theta`). Default 10000. */
    ropeTheta: z.number().positive().default(10000),
    /** Tie the LM head to the token embedding (`tie_word_embeddings`). Default false: the head is a Linear. */
    tiedHead: z.boolean().default(false),
    /** Biases on q, k, v (Qwen2: true; Llama `attention_bias`: true). Default false. */
    qkvBias: z.boolean().default(false),
    /** Bias on o (Llama `attention_bias` only; Qwen2 has none). Default false. */
    oBias: z.boolean().default(false),
    /** Std of the N(0, std²) initialisation (`initializer_range`, 0.02). */
    initStd: z.number().positive().default(0.02),
  })
  .strict()
  .transform((c) => ({ ...c, kvHeads: c.kvHeads ?? c.heads, headDim: c.headDim ?? c.dModel / c.heads }))
  .refine((c) => Number.isInteger(c.headDim), {
    message: 'dModel must be divisible by heads unless headDim is given',
    path: ['heads'],
  })
  .refine((c) => c.headDim % 2 === 0, {
    message: 'headDim must be even (rotary pairs its halves)',
    path: ['headDim'],
  })
  .refine((c) => c.heads % c.kvHeads === 0, {
    message: 'heads must be a multiple of kvHeads (each key/value head serves a group of query heads)',
    path: ['kvHeads'],
  });

export type LlamaConfig = z.output<typeof LlamaConfigSchema>;
export type LlamaConfigInput = z.input<typeof LlamaConfigSchema>;
