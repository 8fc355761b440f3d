/**
 * fedpeft names <-> Hugging Face tensor and module names, per family. One table, used by import (weights in)
 * and export (PEFT adapters and merged folders out), so a module is called the same thing both ways.
 *
 * PyTorch `nn.Linear.weight` is `[out, in]`, the transpose of fedpeft's kernel `K [in, out]` (`transpose:
 * true`); GPT-2's `Conv1D.weight` is `[in, out]` already, and its q/k/v live fused in `attn.c_attn` (see
 * `gpt2-checkpoint.ts`, which owns that split).
 */
import type { HfFamily } from './config-schema.ts';

export interface HfTensorName {
  /** The tensor's name in the HF state dict (`model.layers.0.self_attn.q_proj.weight`). */
  hf: string;
  /** True when the HF tensor is the transpose of the fedpeft parameter (PyTorch Linear weights). */
  transpose: boolean;
}

const LLAMA_LINEAR = /^layers\.(\d+)\.(attn|mlp)\.(q|k|v|o|gate|up|down)$/;
const LLAMA_PROJECTION: Record<string, string> = {
  'attn.q': 'self_attn.q_proj',
  'attn.k': 'self_attn.k_proj',
  'attn.v': 'self_attn.v_proj',
  'attn.o': 'self_attn.o_proj',
  'mlp.gate': 'mlp.gate_proj',
  'mlp.up': 'mlp.up_proj',
  'mlp.down': 'mlp.down_proj',
};

/**
 * The HF module a fedpeft Linear corresponds to (`layers.3.attn.q` -> `model.layers.3.self_attn.q_proj`):
 * the name PEFT's `target_modules` and `base_model.model.<module>.lora_A.weight` use. GPT-2's q/k/v all map
 * to the fused `transformer.h.N.attn.c_attn` (PEFT adapts the fused module).
 */
export function hfModuleName(family: HfFamily, linear: string): string {
  if (linear === 'head') return 'lm_head';
  if (family === 'gpt2') {
    const m = /^layers\.(\d+)\.(attn\.[qkvo]|mlp\.up|mlp\.down)$/.exec(linear);
    if (!m) throw new Error(`gpt2 has no HF module for '${linear}'`);
    const part =
      { 'attn.q': 'attn.c_attn', 'attn.k': 'attn.c_attn', 'attn.v': 'attn.c_attn' }[m[2] as string] ??
      { 'attn.o': 'attn.c_proj', 'mlp.up': 'mlp.c_fc', 'mlp.down': 'mlp.c_proj' }[m[2] as string];
    return `transformer.h.${m[1]}.${part}`;
  }
  const m = LLAMA_LINEAR.exec(linear);
  if (!m) throw new Error(`${family} has no HF module for '${linear}'`);
  return `model.layers.${m[1]}.${LLAMA_PROJECTION[`${m[2]}.${m[3]}`]}`;
}

/** The HF tensor behind a fedpeft Llama/Qwen2 parameter (`parameters()` name). */
export function llamaHfTensorName(param: string): HfTensorName {
  if (param === 'embed.token') return { hf: 'model.embed_tokens.weight', transpose: false };
  if (param === 'final_norm.gamma') return { hf: 'model.norm.weight', transpose: false };
  if (param === 'head.kernel') return { hf: 'lm_head.weight', transpose: true };
  const norm = /^layers\.(\d+)\.norm([12])\.gamma$/.exec(param);
  if (norm) {
    const which = norm[2] === '1' ? 'input_layernorm' : 'post_attention_layernorm';
    return { hf: `model.layers.${norm[1]}.${which}.weight`, transpose: false };
  }
  const lin = /^(layers\.\d+\.(?:attn|mlp)\.\w+)\.(kernel|bias)$/.exec(param);
  if (lin && LLAMA_LINEAR.test(lin[1] as string)) {
    const module = hfModuleName('llama', lin[1] as string);
    return lin[2] === 'kernel'
      ? { hf: `${module}.weight`, transpose: true }
      : { hf: `${module}.bias`, transpose: false };
  }
  throw new Error(`no Hugging Face name for Llama parameter '${param}'`);
}

/** Buffers some HF checkpoints carry that are not weights (recomputed by the model). */
export const IGNORED_HF_TENSORS = /(^|\.)rotary_emb\.inv_freq$|\.attn\.(bias|masked_bias)$/;
