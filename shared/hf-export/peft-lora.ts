/**
 * A standard PEFT LoRA adapter from low-rank factors: `adapter_model.safetensors` tensors and the
 * `adapter_config.json` object, with only keys PEFT's LoraConfig knows.
 *
 * PEFT's rule: `W' = W + (lora_alpha / r) · lora_B @ lora_A` (`lora_A [r, in]`, `lora_B [out, r]`), applied
 * transposed for `fan_in_fan_out` modules (Conv1D, whose weight is `[in, out]`). An update `ΔK = P Q` in
 * fedpeft's layout (`P [in, r]`, `Q [r, out]`) is therefore `lora_A = Pᵀ`, `lora_B = Qᵀ` at scale 1
 * (`lora_alpha = r`), for both kinds of module.
 *
 * Several factor pairs may land on one HF module: chain links (stacked along the rank, so nothing learned is
 * lost) and fused projections (GPT-2's q, k, v in one `c_attn`: each pair's `Q` fills only its own output
 * columns, the rest of its rows are zero — one block-structured LoRA of rank `r_q + r_k + r_v`, exactly).
 */
import { hostTensor, type HostTensor, type HostTensorMap } from '../tensor/host-tensor.ts';
import type { HfFamily } from './family.ts';

/** One update `ΔK = P Q` of one fedpeft Linear (host copies, TF.js layout). */
export interface HostFactors {
  P: HostTensor;
  Q: HostTensor;
}

export interface PeftLoraAdapter {
  weights: HostTensorMap;
  config: Record<string, unknown>;
  /** Rank of every adapted HF module. */
  ranks: Map<string, number>;
}

/**
 * Every key written to adapter_config.json. All are LoraConfig / PeftConfig fields in PEFT's documentation;
 * fedpeft's own metadata goes to a separate file, since PEFT versions before the fix of huggingface/peft#2038
 * refuse unknown keys.
 */
export const PEFT_CONFIG_KEYS = [
  'peft_type',
  'task_type',
  'base_model_name_or_path',
  'inference_mode',
  'r',
  'lora_alpha',
  'lora_dropout',
  'target_modules',
  'fan_in_fan_out',
  'bias',
  'modules_to_save',
  'init_lora_weights',
  'rank_pattern',
  'alpha_pattern',
] as const;

interface ModuleParts {
  in: number;
  out: number;
  fanInFanOut: boolean;
  pieces: { P: HostTensor; Q: HostTensor; outOffset: number }[];
}

/**
 * A rank_pattern key for `module`: PEFT matches keys as regexes against module names (`(.*\.)?key$` now,
 * `.*\.key$` in older versions), so the key is the name without its first component, dots escaped.
 */
export function rankPatternKey(module: string): string {
  const parts = module.split('.');
  return (parts.length > 1 ? parts.slice(1) : parts).join('\\.');
}

export function buildPeftLora<M>(
  family: HfFamily<M>,
  model: M,
  updates: ReadonlyMap<string, readonly HostFactors[]>,
  baseModelNameOrPath: string,
): PeftLoraAdapter {
  const modules = new Map<string, ModuleParts>();
  for (const [linear, factors] of updates) {
    const slot = family.moduleOf(linear, model);
    for (const { P, Q } of factors) {
      const inDim = P.shape[0] as number;
      const parts = modules.get(slot.module) ?? {
        in: inDim,
        out: slot.moduleOut,
        fanInFanOut: slot.fanInFanOut,
        pieces: [],
      };
      if (parts.in !== inDim) throw new Error(`peft export: ${slot.module} gets inputs of two widths`);
      parts.pieces.push({ P, Q, outOffset: slot.outOffset });
      modules.set(slot.module, parts);
    }
  }
  const weights: HostTensorMap = new Map();
  const ranks = new Map<string, number>();
  for (const [module, parts] of modules) {
    const rank = parts.pieces.reduce((sum, p) => sum + (p.P.shape[1] as number), 0);
    // lora_A [R, in]: row j of the stack is column j of the P's side by side.
    const A = new Float32Array(rank * parts.in);
    // lora_B [out, R]: column j is row j of the stacked Q's, placed at the piece's output columns.
    const B = new Float32Array(parts.out * rank);
    let at = 0;
    for (const { P, Q, outOffset } of parts.pieces) {
      const r = P.shape[1] as number;
      const n = Q.shape[1] as number;
      for (let i = 0; i < parts.in; i++)
        for (let j = 0; j < r; j++) A[(at + j) * parts.in + i] = P.data[i * r + j]!;
      for (let j = 0; j < r; j++)
        for (let c = 0; c < n; c++) B[(outOffset + c) * rank + at + j] = Q.data[j * n + c]!;
      at += r;
    }
    weights.set(`base_model.model.${module}.lora_A.weight`, hostTensor([rank, parts.in], A));
    weights.set(`base_model.model.${module}.lora_B.weight`, hostTensor([parts.out, rank], B));
    ranks.set(module, rank);
  }
  const r = mostCommon([...ranks.values()]);
  const rankPattern: Record<string, number> = {};
  for (const [module, rank] of ranks) if (rank !== r) rankPattern[rankPatternKey(module)] = rank;
  const fanInFanOut = [...modules.values()].some((m) => m.fanInFanOut);
  const config: Record<(typeof PEFT_CONFIG_KEYS)[number], unknown> = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModelNameOrPath,
    inference_mode: true,
    r,
    // Scale 1 everywhere: alpha equals each module's rank.
    lora_alpha: r,
    lora_dropout: 0,
    target_modules: [...modules.keys()].sort(),
    // PEFT forces the right value per module type (Conv1D: true, Linear: false); this is the family's default.
    fan_in_fan_out: fanInFanOut,
    bias: 'none',
    modules_to_save: null,
    init_lora_weights: true,
    rank_pattern: rankPattern,
    alpha_pattern: { ...rankPattern },
  };
  return { weights, config, ranks };
}

function mostCommon(values: number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = values[0] ?? 0;
  for (const [v, c] of counts) if (c > (counts.get(best) ?? 0)) best = v;
  return best;
}
