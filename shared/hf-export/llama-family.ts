/**
 * Llama as an HF family (LlamaForCausalLM names): `model.layers.N.self_attn.{q,k,v,o}_proj`,
 * `model.layers.N.mlp.{gate,up,down}_proj`, `lm_head`; every projection a PyTorch Linear (weights `[out, in]`,
 * the transpose of fedpeft's `K [in, out]`), so nothing is fused and `fan_in_fan_out` is false.
 *
 * The fedpeft Llama model is being added in parallel; this descriptor is written against the small structural
 * interface below (fedpeft layer names `layers.N.attn.{q,k,v,o}`, `layers.N.mlp.{gate,up,down}`, `head`) so it
 * plugs in when that model lands. Its whole-model weights come from the model's own HF name map.
 */
import type { HostTensorMap } from '../tensor/host-tensor.ts';
import type { HfFamily, HfModuleSlot } from './family.ts';

export interface LlamaLikeModel {
  readonly config: {
    vocabSize: number;
    contextLength: number;
    dModel: number;
    layers: number;
    heads: number;
    kvHeads: number;
    /** MLP hidden width (`intermediate_size`). */
    hidden: number;
    rmsNormEps: number;
    ropeTheta: number;
    tiedHead: boolean;
  };
  /** Every weight under LlamaForCausalLM names, PyTorch layouts. */
  hfTensors(): HostTensorMap;
  linearOutDim(linearName: string): number;
}

const LAYER = /^layers\.(\d+)\.(attn\.(q|k|v|o)|mlp\.(gate|up|down))$/;

export const llamaFamily: HfFamily<LlamaLikeModel> = {
  modelType: 'llama',
  moduleOf(linearName: string, model: LlamaLikeModel): HfModuleSlot {
    const moduleOut = model.linearOutDim(linearName);
    if (linearName === 'head') return { module: 'lm_head', outOffset: 0, moduleOut, fanInFanOut: false };
    const m = LAYER.exec(linearName);
    if (!m) throw new Error(`llama export: no Llama module for fedpeft layer '${linearName}'`);
    const module =
      m[3] !== undefined
        ? `model.layers.${m[1]}.self_attn.${m[3]}_proj`
        : `model.layers.${m[1]}.mlp.${m[4]}_proj`;
    return { module, outOffset: 0, moduleOut, fanInFanOut: false };
  },
  weights: (model: LlamaLikeModel) => model.hfTensors(),
  config(model: LlamaLikeModel): Record<string, unknown> {
    const c = model.config;
    return {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      vocab_size: c.vocabSize,
      hidden_size: c.dModel,
      intermediate_size: c.hidden,
      num_hidden_layers: c.layers,
      num_attention_heads: c.heads,
      num_key_value_heads: c.kvHeads,
      max_position_embeddings: c.contextLength,
      rms_norm_eps: c.rmsNormEps,
      rope_theta: c.ropeTheta,
      hidden_act: 'silu',
      attention_bias: false,
      mlp_bias: false,
      tie_word_embeddings: c.tiedHead,
      torch_dtype: 'float32',
    };
  },
};
