#!/usr/bin/env python3
"""Independent reference for fedpeft's Hugging Face exports (numpy only).

Implements, from their published definitions and not from fedpeft's code:
  * the safetensors file format (8-byte little-endian header length, JSON header, raw little-endian bytes);
  * GPT-2's forward pass (Radford et al. 2019 / transformers' modeling_gpt2: learned positions, pre-LayerNorm
    blocks, Conv1D weights stored [in, out], fused c_attn = q|k|v, gelu_new, causal softmax(q k^T / sqrt(hd)),
    final ln_f, lm_head tied to wte unless present);
  * Llama's forward pass (transformers' modeling_llama: RMSNorm, rotary embeddings in the rotate-half layout
    with rope_theta, grouped-query attention, SiLU-gated MLP, Linear weights [out, in]);
  * PEFT's LoRA merge rule: W' = W + (lora_alpha / r) * lora_B @ lora_A, transposed for fan_in_fan_out
    (Conv1D) modules, per-module r and alpha from rank_pattern / alpha_pattern.

Usage: hf_reference.py MODEL_DIR [--adapter ADAPTER_DIR] --ids 1,2,3
Prints {"logits": [[...] per position]} as JSON (float64 arithmetic).
"""
import argparse
import json
import re
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len].decode("utf-8"))
    body = raw[8 + header_len :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] == "BF16":
            start, end = info["data_offsets"]
            bits = np.frombuffer(body[start:end], dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        else:
            start, end = info["data_offsets"]
            array = np.frombuffer(body[start:end], dtype=np.dtype(DTYPES[info["dtype"]]).newbyteorder("<"))
        tensors[name] = array.reshape(info["shape"]).astype(np.float64)
    return tensors


# ---- PEFT LoRA merge -------------------------------------------------------------------------------------


def pattern_value(pattern, module, default):
    """PEFT's get_pattern_key: a key matches a module name as the regex (.*\\.)?key$."""
    for key, value in pattern.items():
        if re.match(r"(.*\.)?(" + key + r")$", module):
            return value
    return default


def merge_lora(weights, adapter_dir, conv1d_modules):
    with open(f"{adapter_dir}/adapter_config.json") as f:
        config = json.load(f)
    assert config["peft_type"] == "LORA", config["peft_type"]
    lora = read_safetensors(f"{adapter_dir}/adapter_model.safetensors")
    prefix = "base_model.model."
    modules = sorted({k[len(prefix) : -len(".lora_A.weight")] for k in lora if k.endswith(".lora_A.weight")})
    for module in modules:
        a = lora[f"{prefix}{module}.lora_A.weight"]  # [r, in]
        b = lora[f"{prefix}{module}.lora_B.weight"]  # [out, r]
        r = pattern_value(config.get("rank_pattern") or {}, module, config["r"])
        alpha = pattern_value(config.get("alpha_pattern") or {}, module, config["lora_alpha"])
        assert a.shape[0] == r, (module, a.shape, r)
        delta = (alpha / r) * (b @ a)  # [out, in], PyTorch Linear layout
        # PEFT: fan_in_fan_out (Conv1D, weight [in, out]) applies the delta transposed.
        if module in conv1d_modules:
            delta = delta.T
        name = f"{module}.weight"
        assert weights[name].shape == delta.shape, (name, weights[name].shape, delta.shape)
        weights[name] = weights[name] + delta
    return weights


# ---- GPT-2 -----------------------------------------------------------------------------------------------


def layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def gelu_new(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def causal_attention(q, k, v):
    """q [H, T, hd], k/v [H, T, hd] -> [T, H*hd]."""
    hd = q.shape[-1]
    t = q.shape[1]
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
    scores = np.where(np.tril(np.ones((t, t), dtype=bool)), scores, -np.inf)
    scores = scores - scores.max(-1, keepdims=True)
    p = np.exp(scores)
    p = p / p.sum(-1, keepdims=True)
    return (p @ v).transpose(1, 0, 2).reshape(t, -1)


def gpt2_weights(w):
    return {(k[len("transformer.") :] if k.startswith("transformer.") else k): v for k, v in w.items()}


def gpt2_conv1d_modules(config):
    mods = set()
    for i in range(config["n_layer"]):
        mods |= {f"transformer.h.{i}.attn.c_attn", f"transformer.h.{i}.attn.c_proj"}
        mods |= {f"transformer.h.{i}.mlp.c_fc", f"transformer.h.{i}.mlp.c_proj"}
    return mods


def gpt2_logits(config, w, ids):
    w = gpt2_weights(w)
    d, heads, eps = config["n_embd"], config["n_head"], config.get("layer_norm_epsilon", 1e-5)
    t = len(ids)
    h = w["wte.weight"][ids] + w["wpe.weight"][:t]
    for i in range(config["n_layer"]):
        p = f"h.{i}."
        a = layer_norm(h, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = a @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = (x.reshape(t, heads, d // heads).transpose(1, 0, 2) for x in np.split(qkv, 3, axis=-1))
        h = h + causal_attention(q, k, v) @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        m = layer_norm(h, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        up = gelu_new(m @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        h = h + up @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    h = layer_norm(h, w["ln_f.weight"], w["ln_f.bias"], eps)
    head = w.get("lm_head.weight", w["wte.weight"])  # [vocab, d]
    return h @ head.T


# ---- Llama -----------------------------------------------------------------------------------------------


def rms_norm(x, g, eps):
    return x / np.sqrt((x**2).mean(-1, keepdims=True) + eps) * g


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def llama_logits(config, w, ids):
    d = config["hidden_size"]
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    hd = d // heads
    eps = config.get("rms_norm_eps", 1e-6)
    theta = config.get("rope_theta", 10000.0)
    t = len(ids)
    inv_freq = 1.0 / (theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    freqs = np.outer(np.arange(t, dtype=np.float64), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)
    cos, sin = np.cos(emb), np.sin(emb)
    h = w["model.embed_tokens.weight"][ids]
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        lin = lambda x, name: x @ w[p + name + ".weight"].T + w.get(p + name + ".bias", 0.0)  # noqa: E731
        a = rms_norm(h, w[p + "input_layernorm.weight"], eps)
        q = lin(a, "self_attn.q_proj").reshape(t, heads, hd).transpose(1, 0, 2)
        k = lin(a, "self_attn.k_proj").reshape(t, kv_heads, hd).transpose(1, 0, 2)
        v = lin(a, "self_attn.v_proj").reshape(t, kv_heads, hd).transpose(1, 0, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        group = heads // kv_heads
        k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)
        h = h + lin(causal_attention(q, k, v), "self_attn.o_proj")
        m = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        gate = lin(m, "mlp.gate_proj")
        h = h + lin(gate / (1.0 + np.exp(-gate)) * lin(m, "mlp.up_proj"), "mlp.down_proj")
    h = rms_norm(h, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return h @ head.T


FAMILIES = {
    "gpt2": (gpt2_logits, gpt2_conv1d_modules),
    "llama": (llama_logits, lambda config: set()),
    # Qwen2 is Llama's forward pass with q/k/v biases (read by `lin` when present).
    "qwen2": (llama_logits, lambda config: set()),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--adapter")
    parser.add_argument("--ids", required=True, help="comma-separated token ids")
    args = parser.parse_args()
    with open(f"{args.model_dir}/config.json") as f:
        config = json.load(f)
    family = config.get("model_type")
    if family not in FAMILIES:
        sys.exit(f"unsupported model_type {family!r} (supported: {', '.join(FAMILIES)})")
    forward, conv1d = FAMILIES[family]
    weights = read_safetensors(f"{args.model_dir}/model.safetensors")
    if args.adapter:
        weights = merge_lora(weights, args.adapter, conv1d(config))
    ids = [int(x) for x in args.ids.split(",")]
    json.dump({"logits": forward(config, weights, ids).tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
