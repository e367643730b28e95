#!/usr/bin/env python3
"""Reference logits of MoE fixtures whose weights are rounded to bf16 (round to nearest
even, upcast, run in f32): what a runtime that keeps bf16 experts and computes in f32 must
reproduce. The Swift test converts the fixture's weights to BF16 itself and compares.

    python3 tools/reference/make_moe_bf16_reference.py

Writes Tests/Fixtures/reference/<name>-bf16.safetensors with tokens_40, logits_40 [40, V],
topk_40 [layers, 40, k] (transformers' OlmoeForCausalLM, eager, CPU, one thread).
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MODELS_DIR, REF_DIR, load_weights, round_params_to_bf16, write_reference
from make_moe_fixtures import MODELS, RouterRecorder, build_model, unfuse
from safetensors.torch import load_file
from transformers import OlmoeConfig

NAMES = ["olmoe-polynorm-e8k2", "olmoe-swiglu-e6k3-fused"]


def main():
    for name in NAMES:
        m = next(m for m in MODELS if m["name"] == name)
        d = os.path.join(MODELS_DIR, name)
        cfg_json = json.load(open(os.path.join(d, "config.json")))
        for k in ("dtype", "torch_dtype", "architectures", "transformers_version"):
            cfg_json.pop(k, None)
        cfg_json["hidden_act"] = "silu"  # PolyNorm experts are swapped in by build_model
        cfg = OlmoeConfig(**cfg_json)
        cfg._attn_implementation = "eager"
        model = build_model(m, cfg)
        w = load_weights(d)
        model.load_state_dict(unfuse(w, m) if m["layout"] == "fused" else w, strict=True)
        round_params_to_bf16(model)
        ref = load_file(os.path.join(REF_DIR, name + ".safetensors"))
        rec = RouterRecorder(model, m["k"])
        logits, topk, gap = rec.run(model, ref["tokens_40"])
        rec.remove()
        err = (logits - ref["logits_40"]).abs().max().item()
        print(f"{name}: bf16-rounded weights change logits by up to {err:.3g}; router gap {gap:.2g}; "
              f"top-k {'unchanged' if torch.equal(topk, ref['topk_40']) else 'CHANGED'}")
        write_reference({"tokens_40": ref["tokens_40"], "logits_40": logits, "topk_40": topk}, name + "-bf16")


if __name__ == "__main__":
    main()
