/**
 * The GPT configuration a user (or a checkpoint) writes, validated with zod: defaults documented here, errors a
 * person can act on.
 */
import { z } from 'zod';

export const GptConfigSchema = z
  .object({
    /** Token ids are `0..vocabSize-1` (256 for the byte tokenizer, 50257 for GPT-2's BPE). */
    vocabSize: z.number().int().positive({ message: 'vocabSize must be a positive integer' }),
    /** Longest sequence the learned position table covers. */
    contextLength: z.number().int().positive({ message: 'contextLength must be a positive integer' }),
    /** Width of the residual stream; must be divisible by `heads`. */
    dModel: z.number().int().positive({ message: 'dModel must be a positive integer' }),
    /** Number of transformer blocks. */
    layers: z.number().int().positive({ message: 'layers must be a positive integer' }),
    /** Attention heads per block. */
    heads: z.number().int().positive({ message: 'heads must be a positive integer' }),
    /** MLP hidden width = round(mlpRatio * dModel). Default 4 (GPT-2). */
    mlpRatio: z.number().positive().default(4),
    /**
     * Tie the LM head to the token embedding (`logits = h wte^T`, GPT-2's choice). Default false: the head is
     * then its own `Linear` (role `head`) that adapters can target.
     */
    tiedHead: z.boolean().default(false),
    /** Biases on q,k,v,o,up,down (GPT-2 has them). Default true. The LM head never has a bias. */
    bias: z.boolean().default(true),
    /** LayerNorm epsilon. Default 1e-5 (GPT-2). */
    layerNormEps: z.number().positive().default(1e-5),
    /** Std of the N(0, std²) initialisation (GPT-2: 0.02); residual projections get std / sqrt(2 layers). */
    initStd: z.number().positive().default(0.02),
  })
  .refine((c) => c.dModel % c.heads === 0, {
    message: 'dModel must be divisible by heads (each head gets dModel / heads dimensions)',
    path: ['heads'],
  });

export type GptConfig = z.output<typeof GptConfigSchema>;
export type GptConfigInput = z.input<typeof GptConfigSchema>;
