/**
 * Named model sizes and the one factory the CLI, clients and benchmarks use: `createModel('tiny-gpt', {seed})`.
 * Overrides are merged over the named size and validated by the model's schema.
 */
import { FedpeftError } from '../errors.ts';
import { Gpt, type GptConfigInput } from './gpt.ts';
import { MlpClassifier, type MlpClassifierConfigInput } from './mlp-classifier.ts';
import { Llama, type LlamaConfigInput } from './llama.ts';

export const GPT_SIZES = {
  /** Unit tests: a couple of milliseconds per step on cpu. */
  'test-gpt': { vocabSize: 256, contextLength: 32, dModel: 32, layers: 2, heads: 2 },
  /**
   * The product default: byte-level, 285k parameters (biases, untied head); ~93 ms per step (batch 4) on wasm.
   * The design measurements: ~2.47 validation
   * bits/byte on Moby-Dick after 5 CPU-minutes on wasm at batch 4, lr 5e-3; larger models do worse in that budget.
   */
  'tiny-gpt': { vocabSize: 256, contextLength: 128, dModel: 96, layers: 2, heads: 3 },
  /** Benchmarks (the adapter-overhead measurements in the design notes use this shape). */
  'small-gpt': { vocabSize: 256, contextLength: 128, dModel: 256, layers: 4, heads: 4 },
} as const satisfies Record<string, GptConfigInput>;

/** Llama-family decoders (RMSNorm, RoPE, SwiGLU, GQA) at byte-level sizes; real ones come from `hf:<dir>`. */
export const LLAMA_SIZES = {
  /** Unit tests. */
  'test-llama': {
    vocabSize: 256,
    contextLength: 32,
    dModel: 32,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    intermediateSize: 64,
  },
  /** The tiny-gpt budget in Llama form (GQA 4:2, SwiGLU width 256, tied head like SmolLM2). */
  'tiny-llama': {
    vocabSize: 256,
    contextLength: 128,
    dModel: 96,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    intermediateSize: 256,
    tiedHead: true,
  },
} as const satisfies Record<string, LlamaConfigInput>;

export const MLP_SIZES = {
  /** Spam filtering over hashed byte n-gram features; `inputDim` must match the featurizer's bucket count. */
  'mlp-classifier': { inputDim: 4096, hiddenDims: [64], numClasses: 2 },
} as const satisfies Record<string, MlpClassifierConfigInput>;

export type GptSizeName = keyof typeof GPT_SIZES;
export type MlpSizeName = keyof typeof MLP_SIZES;
export type LlamaSizeName = keyof typeof LLAMA_SIZES;
export type ModelName = GptSizeName | LlamaSizeName | MlpSizeName;
export type ZooModel = Gpt | Llama | MlpClassifier;
/** The zoo's language models: what fine-tuning, evaluation and sampling accept. */
export type LanguageModel = Gpt | Llama;

export const MODEL_NAMES = [
  ...Object.keys(GPT_SIZES),
  ...Object.keys(LLAMA_SIZES),
  ...Object.keys(MLP_SIZES),
] as ModelName[];

export type CreateModelOptions = { seed: number } & Partial<GptConfigInput> &
  Partial<LlamaConfigInput> &
  Partial<MlpClassifierConfigInput>;

function isLlamaName(name: string): name is LlamaSizeName {
  return Object.hasOwn(LLAMA_SIZES, name);
}

function isGptName(name: string): name is GptSizeName {
  return Object.hasOwn(GPT_SIZES, name);
}

function isMlpName(name: string): name is MlpSizeName {
  return Object.hasOwn(MLP_SIZES, name);
}

function unknownModel(name: string): FedpeftError {
  return new FedpeftError(
    'UNKNOWN_MODEL',
    `Unknown model '${name}'. Valid models: ${MODEL_NAMES.join(', ')}.`,
  );
}

export function createModel(name: GptSizeName, options: { seed: number } & Partial<GptConfigInput>): Gpt;
export function createModel(
  name: LlamaSizeName,
  options: { seed: number } & Partial<LlamaConfigInput>,
): Llama;
export function createModel(
  name: MlpSizeName,
  options: { seed: number } & Partial<MlpClassifierConfigInput>,
): MlpClassifier;
export function createModel(name: string, options: CreateModelOptions): ZooModel;
export function createModel(name: string, options: CreateModelOptions): ZooModel {
  const { seed, ...overrides } = options;
  if (isGptName(name)) return new Gpt({ ...GPT_SIZES[name], ...pick(overrides, GPT_KEYS) }, { seed });
  if (isLlamaName(name)) return new Llama({ ...LLAMA_SIZES[name], ...pick(overrides, LLAMA_KEYS) }, { seed });
  if (isMlpName(name)) {
    return new MlpClassifier(
      { ...MLP_SIZES[name], hiddenDims: [...MLP_SIZES[name].hiddenDims], ...pick(overrides, MLP_KEYS) },
      { seed },
    );
  }
  throw unknownModel(name);
}

/** Rebuild a model from the `kind` + config a checkpoint recorded. */
export function createModelFromConfig(
  kind: string,
  config: unknown,
  options: { seed?: number; initialize?: boolean } = {},
): ZooModel {
  const seed = options.seed ?? 0;
  if (kind === 'gpt')
    return new Gpt(config as GptConfigInput, { seed, initialize: options.initialize ?? true });
  if (kind === 'llama')
    return new Llama(config as LlamaConfigInput, { seed, initialize: options.initialize ?? true });
  if (kind === 'mlp-classifier') return new MlpClassifier(config as MlpClassifierConfigInput, { seed });
  throw new FedpeftError(
    'UNKNOWN_MODEL',
    `Unknown model kind '${kind}'. Valid kinds: gpt, llama, mlp-classifier.`,
  );
}

const GPT_KEYS = [
  'vocabSize',
  'contextLength',
  'dModel',
  'layers',
  'heads',
  'mlpRatio',
  'tiedHead',
  'bias',
  'layerNormEps',
  'initStd',
] as const;
const LLAMA_KEYS = [
  'vocabSize',
  'contextLength',
  'dModel',
  'layers',
  'heads',
  'kvHeads',
  'headDim',
  'intermediateSize',
  'rmsNormEps',
  'ropeTheta',
  'tiedHead',
  'qkvBias',
  'oBias',
  'initStd',
] as const;
const MLP_KEYS = ['inputDim', 'hiddenDims', 'numClasses', 'initStd'] as const;

/** Only the keys that belong to the chosen model's config: an override for the other kind is rejected loudly. */
function pick(overrides: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) continue;
    if (!keys.includes(k)) {
      throw new FedpeftError(
        'INVALID_CONFIG',
        `Option '${k}' does not apply to this model (valid: ${keys.join(', ')}).`,
      );
    }
    out[k] = v;
  }
  return out;
}
