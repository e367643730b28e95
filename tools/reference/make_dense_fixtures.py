#!/usr/bin/env python3
"""Write the dense test fixtures: tiny HF checkpoints + reference outputs.

    python3 tools/reference/make_dense_fixtures.py

Reference model = transformers' LlamaForCausalLM (eager attention, f32, CPU)
with, for model_type "polyllama", every layer's MLP replaced by the PolyCom MLP
    down_proj(act_fn(up_proj(x)))      act_fn = PolyNorm | PolyReLU
Outputs (under Tests/Fixtures/):
    models/<name>/config.json, model.safetensors | shards + index
    reference/<name>.safetensors
Deterministic: fixed seeds, one CPU thread.
"""
import json
import os
import sys

import torch
import torch.nn as nn
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (MODELS_DIR, SEQ_LENS, GREEDY_NEW_TOKENS, make_act, init_poly_act, init_weights,
                    round_params_to_bf16, full_logits, pick_greedy_prompt, check_generate_matches,
                    random_tokens, write_config, write_weights, load_weights, write_reference,
                    dir_size)


class PolyMLP(nn.Module):
    """PolyCom MLP: plain two-matrix MLP with a learned polynomial activation."""

    def __init__(self, hidden, inter, act):
        super().__init__()
        self.up_proj = nn.Linear(hidden, inter, bias=False)
        self.down_proj = nn.Linear(inter, hidden, bias=False)
        self.act_fn = make_act(act)

    def forward(self, x):
        return self.down_proj(self.act_fn(self.up_proj(x)))


MODELS = [
    dict(name="polynorm-f32", model_type="polyllama", act="polynorm", seed=1001,
         hidden=64, inter=176, layers=3, heads=4, kv=4, vocab=320, theta=10000.0,
         tied=False, storage=torch.float32, shards=1, embed_std=0.5, head_std=0.12),
    dict(name="polynorm-bf16-sharded", model_type="polyllama", act="polynorm", seed=2002,
         hidden=96, inter=256, layers=2, heads=6, kv=6, vocab=320, theta=10000.0,
         tied=False, storage=torch.bfloat16, shards=3, embed_std=0.5, head_std=0.1),
    dict(name="polyrelu-tied", model_type="polyllama", act="polyrelu", seed=3003,
         hidden=64, inter=160, layers=2, heads=4, kv=4, vocab=320, theta=10000.0,
         tied=True, storage=torch.float32, shards=1, embed_std=0.15, head_std=None),
    dict(name="llama-swiglu-gqa", model_type="llama", act="silu", seed=4004,
         hidden=64, inter=128, layers=2, heads=4, kv=2, vocab=320, theta=500000.0,
         tied=False, storage=torch.float32, shards=1, embed_std=0.5, head_std=0.12),
    # The paper's plain-MLP baselines: the same block with a fixed ReLU or GELU.
    dict(name="plain-relu", model_type="polyllama", act="relu", seed=6006,
         hidden=64, inter=128, layers=2, heads=4, kv=4, vocab=320, theta=10000.0,
         tied=True, storage=torch.float32, shards=1, embed_std=0.15, head_std=None),
    dict(name="plain-gelu", model_type="polyllama", act="gelu", seed=7007,
         hidden=64, inter=128, layers=2, heads=4, kv=4, vocab=320, theta=10000.0,
         tied=True, storage=torch.float32, shards=1, embed_std=0.15, head_std=None),
    # Llama 3.x: rope_scaling "llama3"; an original context of 32 puts most head frequencies
    # in the scaled or smoothed bands.
    dict(name="llama3-rope-scaling", model_type="llama", act="silu", seed=5005,
         hidden=64, inter=128, layers=2, heads=4, kv=2, vocab=320, theta=500000.0,
         tied=True, storage=torch.float32, shards=1, embed_std=0.15, head_std=None,
         rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                       "high_freq_factor": 4.0, "original_max_position_embeddings": 32}),
]


def hf_config(m):
    return LlamaConfig(
        vocab_size=m["vocab"], hidden_size=m["hidden"], intermediate_size=m["inter"],
        num_hidden_layers=m["layers"], num_attention_heads=m["heads"], num_key_value_heads=m["kv"],
        hidden_act="silu", max_position_embeddings=128, rms_norm_eps=1e-5, rope_theta=m["theta"],
        tie_word_embeddings=m["tied"], bos_token_id=1, eos_token_id=2, pad_token_id=0,
        attention_bias=False, mlp_bias=False, initializer_range=0.02, use_cache=True,
        rope_scaling=m.get("rope_scaling"),
    )


def build_model(m, cfg):
    """LlamaForCausalLM (eager) with PolyCom MLPs when model_type == polyllama."""
    cfg._attn_implementation = "eager"
    model = LlamaForCausalLM(cfg)
    assert model.config._attn_implementation == "eager"
    if m["model_type"] == "polyllama":
        for layer in model.model.layers:
            layer.mlp = PolyMLP(m["hidden"], m["inter"], m["act"])
    model.eval()
    return model


def tensors_to_store(model, m):
    sd = model.state_dict()
    out = {}
    for k, v in sd.items():
        if "rotary_emb" in k:
            continue
        if m["tied"] and k == "lm_head.weight":
            continue
        out[k] = v.detach().to(m["storage"])
    return out


def make(m):
    name = m["name"]
    out_dir = os.path.join(MODELS_DIR, name)
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(m["seed"])
    gen = torch.Generator().manual_seed(m["seed"])
    cfg = hf_config(m)
    model = build_model(m, cfg)
    init_weights(model, gen, linear_std=0.1, embed_std=m["embed_std"], head_std=m["head_std"] or 0.1)
    if m["model_type"] == "polyllama" and m["act"] in ("polynorm", "polyrelu"):
        for layer in model.model.layers:
            init_poly_act(layer.mlp.act_fn, gen)
    if m["storage"] == torch.bfloat16:
        # Reference = f32 compute on the bf16-rounded weights.
        round_params_to_bf16(model)

    dtype_name = {torch.float32: "float32", torch.bfloat16: "bfloat16"}[m["storage"]]
    overrides = {"architectures": ["LlamaForCausalLM"]}
    if m["model_type"] == "polyllama":
        overrides = {"architectures": ["PolyLlamaForCausalLM"], "model_type": "polyllama", "hidden_act": m["act"]}
    cfg_json = write_config(cfg, out_dir, overrides, dtype_name)
    write_weights(tensors_to_store(model, m), out_dir, n_shards=m["shards"])

    ref = {}
    for i, L in enumerate(SEQ_LENS):
        toks = random_tokens(m["vocab"], L, m["seed"] * 10 + i)
        ref[f"tokens_{L}"] = toks
        ref[f"logits_{L}"] = full_logits(model, toks)
    prompt, gtoks, gap = pick_greedy_prompt(model, m["vocab"], m["seed"] * 100, eos_ids=(cfg.eos_token_id,))
    check_generate_matches(model, prompt, gtoks)
    ref["greedy_prompt"] = prompt
    ref["greedy_tokens"] = gtoks
    ref["greedy_min_gap"] = torch.tensor([gap], dtype=torch.float32)
    write_reference(ref, name)

    lg = ref["logits_40"]
    print(f"{name}: logits_40 std {lg.std():.3f} absmax {lg.abs().max():.3f}; greedy min gap {gap:.4f}; "
          f"prompt {prompt.tolist()} -> {gtoks.tolist()}; folder {dir_size(out_dir)} bytes")
    assert lg.std() > 0.3 and lg.abs().max() < 50, "logits flat or exploding"
    verify(m, cfg_json, out_dir, ref)


def verify(m, cfg_json, out_dir, ref):
    """Reload the folder from disk into a fresh model and re-run."""
    d = dict(cfg_json)
    assert d["model_type"] == m["model_type"]
    d["model_type"] = "llama"
    d["hidden_act"] = "silu"
    d.pop("dtype", None)
    d.pop("torch_dtype", None)
    d.pop("architectures", None)
    cfg = LlamaConfig(**{k: v for k, v in d.items() if k != "transformers_version"})
    model = build_model(m, cfg)
    w = load_weights(out_dir)
    for k, v in w.items():
        assert v.dtype == m["storage"], (k, v.dtype)
        assert "rotary_emb" not in k
    assert ("lm_head.weight" in w) == (not m["tied"])
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in w.items()}, strict=False)
    assert not unexpected, unexpected
    assert all(k == "lm_head.weight" and m["tied"] for k in missing), missing
    if m["tied"]:
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    for L in SEQ_LENS:
        got = full_logits(model, ref[f"tokens_{L}"])
        err = (got - ref[f"logits_{L}"]).abs().max().item()
        assert err <= 1e-5, (m["name"], L, err)
    if m["shards"] > 1:
        files = [f for f in os.listdir(out_dir) if f.endswith(".safetensors")]
        assert len(files) == m["shards"], files
    print(f"  verified reload of {m['name']}: {len(w)} tensors")


def main():
    only = set(sys.argv[1:])
    for m in MODELS:
        if only and m["name"] not in only:
            continue
        make(m)


if __name__ == "__main__":
    main()
