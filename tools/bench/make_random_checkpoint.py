#!/usr/bin/env python3
"""A checkpoint folder of a released config's shape with random bf16 weights (std 0.02,
PolyCom coefficients 1/3, norms 1), for speed and memory measurements of `polycom train`:
speed does not depend on the values.

    python3 tools/bench/make_random_checkpoint.py Configs/PolyNorm_1B OUT [--layers N] [--tokenizer DIR]
"""
import argparse
import json
import os
import shutil

import torch
from safetensors.torch import save_file


def tensors(c):
    D, F, V, L = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["num_hidden_layers"]
    H, KV = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
    hd = D // H
    moe = c["model_type"] == "olmoe"
    gated = c["hidden_act"] not in ("polynorm", "polyrelu")
    out = {"model.embed_tokens.weight": [V, D], "model.norm.weight": [D]}
    if not c.get("tie_word_embeddings", False):
        out["lm_head.weight"] = [V, D]
    for i in range(L):
        p = f"model.layers.{i}."
        out.update({p + "input_layernorm.weight": [D], p + "post_attention_layernorm.weight": [D],
                    p + "self_attn.q_proj.weight": [H * hd, D], p + "self_attn.k_proj.weight": [KV * hd, D],
                    p + "self_attn.v_proj.weight": [KV * hd, D], p + "self_attn.o_proj.weight": [D, H * hd]})
        mlps = [p + "mlp."]
        if moe:
            out.update({p + "self_attn.q_norm.weight": [H * hd], p + "self_attn.k_norm.weight": [KV * hd],
                        p + "mlp.gate.weight": [c["num_experts"], D]})
            mlps = [p + f"mlp.experts.{e}." for e in range(c["num_experts"])]
        for x in mlps:
            out.update({x + "up_proj.weight": [F, D], x + "down_proj.weight": [D, F]})
            if gated:
                out[x + "gate_proj.weight"] = [F, D]
        if not gated:
            out.update({p + "mlp.act_fn.weight": [3], p + "mlp.act_fn.bias": [1]})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("out")
    ap.add_argument("--layers", type=int)
    ap.add_argument("--tokenizer", help="folder whose tokenizer files are copied")
    a = ap.parse_args()
    with open(os.path.join(a.config, "config.json")) as f:
        c = json.load(f)
    if a.layers:
        c["num_hidden_layers"] = a.layers
    os.makedirs(a.out, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    weights = {}
    for name, shape in tensors(c).items():
        if name.endswith("act_fn.weight"):
            t = torch.full(shape, 1 / 3)
        elif name.endswith("act_fn.bias"):
            t = torch.zeros(shape)
        elif len(shape) == 1:
            t = torch.ones(shape)
        else:
            t = torch.randn(shape, generator=g) * 0.02
        weights[name] = t.to(torch.bfloat16)
    save_file(weights, os.path.join(a.out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    if a.tokenizer:
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if os.path.exists(os.path.join(a.tokenizer, name)):
                shutil.copy(os.path.join(a.tokenizer, name), a.out)
    print(f"{a.out}: {sum(t.numel() for t in weights.values()) / 1e9:.3f} B parameters")


if __name__ == "__main__":
    main()
