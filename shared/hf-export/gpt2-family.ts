/**
 * GPT-2 as an HF family: the names and layouts of `shared/model/gpt2-checkpoint.ts` (prefix `transformer.`, as
 * GPT2LMHeadModel names its modules). q, k and v are one fused Conv1D `attn.c_attn` (`[d, 3d]`, q then k then
 * v on the output axis); every block Linear is a Conv1D (`fan_in_fan_out`); an untied head is `lm_head`, a
 * PyTorch Linear.
 */
import type { Gpt } from '../model/gpt.ts';
import { gpt2ConfigFor, gpt2TensorsFromGpt } from '../model/gpt2-checkpoint.ts';
import type { HostTensorMap } from '../tensor/host-tensor.ts';
import type { HfFamily, HfModuleSlot } from './family.ts';

const BLOCK_LINEAR = /^layers\.(\d+)\.(attn\.(q|k|v|o)|mlp\.(up|down))$/;
const FUSED_QKV = ['q', 'k', 'v'];

export const gpt2Family: HfFamily<Gpt> = {
  modelType: 'gpt2',
  moduleOf(linearName: string, model: Gpt): HfModuleSlot {
    const d = model.config.dModel;
    const hidden = Math.round(model.config.mlpRatio * d);
    if (linearName === 'head') {
      return { module: 'lm_head', outOffset: 0, moduleOut: model.config.vocabSize, fanInFanOut: false };
    }
    const m = BLOCK_LINEAR.exec(linearName);
    if (!m) throw new Error(`gpt2 export: no GPT-2 module for fedpeft layer '${linearName}'`);
    const h = `transformer.h.${m[1]}`;
    const attnRole = m[3];
    if (attnRole !== undefined && FUSED_QKV.includes(attnRole)) {
      const offset = FUSED_QKV.indexOf(attnRole) * d;
      return { module: `${h}.attn.c_attn`, outOffset: offset, moduleOut: 3 * d, fanInFanOut: true };
    }
    if (attnRole === 'o')
      return { module: `${h}.attn.c_proj`, outOffset: 0, moduleOut: d, fanInFanOut: true };
    if (m[4] === 'up') return { module: `${h}.mlp.c_fc`, outOffset: 0, moduleOut: hidden, fanInFanOut: true };
    return { module: `${h}.mlp.c_proj`, outOffset: 0, moduleOut: d, fanInFanOut: true };
  },
  weights(model: Gpt): HostTensorMap {
    const out: HostTensorMap = new Map();
    for (const [name, t] of gpt2TensorsFromGpt(model)) {
      out.set(name === 'lm_head.weight' ? name : `transformer.${name}`, t);
    }
    return out;
  },
  config: (model: Gpt) => gpt2ConfigFor(model),
};
