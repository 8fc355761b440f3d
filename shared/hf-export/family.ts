/**
 * A Hugging Face model family as a small descriptor: everything the exports need to know about one family's
 * names and layouts, and nothing else. Adding a family (Llama, Qwen2) is one more descriptor.
 *
 * - `moduleOf`: where a fedpeft Linear lives in the HF model — the module name and, for fused projections
 *   (GPT-2's `c_attn` holds q, k and v side by side on its output axis), which output columns it owns;
 * - `fanInFanOut`: whether that HF module stores its weight `[in, out]` (GPT-2's Conv1D; PEFT's
 *   `fan_in_fan_out`) rather than PyTorch Linear's `[out, in]`;
 * - `weights` / `config`: the whole model as HF tensors (`model.safetensors`) and `config.json`.
 */
import type { HostTensorMap } from '../tensor/host-tensor.ts';

export interface HfModuleSlot {
  /** Full HF module name, e.g. `transformer.h.0.attn.c_attn`. */
  module: string;
  /** First output column this Linear occupies inside the module (0 unless fused). */
  outOffset: number;
  /** The module's whole output width (the Linear's own width unless fused). */
  moduleOut: number;
  /** The module's weight is stored `[in, out]` (Conv1D): PEFT applies its delta transposed. */
  fanInFanOut: boolean;
}

export interface HfFamily<M> {
  /** `model_type` in config.json. */
  readonly modelType: string;
  moduleOf(linearName: string, model: M): HfModuleSlot;
  weights(model: M): HostTensorMap;
  config(model: M): Record<string, unknown>;
}
