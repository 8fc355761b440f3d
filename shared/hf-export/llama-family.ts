/**
 * Llama / Qwen2 as an HF family (LlamaForCausalLM / Qwen2ForCausalLM names): `model.layers.N.self_attn.{q,k,v,o}_proj`,
 * `model.layers.N.mlp.{gate,up,down}_proj`, `lm_head`; every projection a PyTorch Linear (weights `[out, in]`,
 * the transpose of fedpeft's `K [in, out]`), so nothing is fused and `fan_in_fan_out` is false.
 *
 * Names, layouts and config.json come from `shared/model/hf/` (the import side), so a folder this writes is one
 * `hf:<dir>` loads back unchanged.
 */
import type { Llama } from '../model/llama.ts';
import { hfConfigFromLlama } from '../model/hf/config-schema.ts';
import { hfModuleName } from '../model/hf/names.ts';
import { llamaToHfTensors } from '../model/hf/to-hf-tensors.ts';
import type { HfFamily, HfModuleSlot } from './family.ts';

export const llamaFamily: HfFamily<Llama> = {
  modelType: 'llama',
  moduleOf(linearName: string, model: Llama): HfModuleSlot {
    const linear = model.linears().find((l) => l.name === linearName);
    if (!linear) throw new Error(`llama export: no Llama module for fedpeft layer '${linearName}'`);
    return {
      module: hfModuleName('llama', linearName),
      outOffset: 0,
      moduleOut: linear.outDim,
      fanInFanOut: false,
    };
  },
  weights: (model: Llama) => llamaToHfTensors(model),
  config: (model: Llama) => hfConfigFromLlama(model.config),
};
