#!/usr/bin/env python3
"""Write per-layer hidden states of every fixture model: reference/<name>.hidden.safetensors.

    python3 tools/reference/make_hidden_states.py [names...]

Each committed checkpoint folder is reloaded from disk into the same transformers model its
fixture script built (LlamaForCausalLM with PolyCom MLPs, OlmoeForCausalLM with PolyNorm
experts), checked against the committed reference logits, then run on `tokens_7` and
`tokens_40` with `output_hidden_states=True` and a forward hook on the last decoder layer.
The existing reference/<name>.safetensors files are read, never rewritten.

transformers' `hidden_states` (4.57, `check_model_inputs`) are NOT every layer's output: entry
0 is the input of layer 0 (the embeddings), entry i (1 <= i < n) the output of layer i-1, and
entry n is `last_hidden_state`, i.e. the FINAL NORM of layer n-1's output. Layer n-1's own
output is therefore stored separately (`last_layer_{L}`); the script asserts this mapping
against hooks on every layer and on the final norm.
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MODELS_DIR, REF_DIR, full_logits, load_weights
import make_dense_fixtures as dense
import make_moe_fixtures as moe

LENGTHS = (7, 40)


def load_model(name):
    """The fixture's transformers model with the weights read back from its folder."""
    d = json.load(open(os.path.join(MODELS_DIR, name, "config.json")))
    for k in ("dtype", "torch_dtype", "architectures", "transformers_version"):
        d.pop(k, None)
    w = load_weights(os.path.join(MODELS_DIR, name))
    if d["model_type"] == "olmoe":
        m = next(m for m in moe.MODELS if m["name"] == name)
        d["hidden_act"] = "silu"
        cfg = moe.OlmoeConfig(**d)
        cfg._attn_implementation = "eager"
        model = moe.build_model(m, cfg)
        w = {k: v.float() for k, v in w.items()}
        if m["layout"] == "fused":
            w = moe.unfuse(w, m)
        missing, unexpected = model.load_state_dict(w, strict=True)
        assert not missing and not unexpected
    else:
        m = next(m for m in dense.MODELS if m["name"] == name)
        d["model_type"], d["hidden_act"] = "llama", "silu"
        model = dense.build_model(m, dense.LlamaConfig(**d))
        missing, unexpected = model.load_state_dict({k: v.float() for k, v in w.items()}, strict=False)
        assert not unexpected and all(k == "lm_head.weight" and m["tied"] for k in missing), (missing, unexpected)
    return model


@torch.no_grad()
def hidden_states(model, tokens):
    """(hidden_states [n+1, L, D] as transformers returns them, last layer's output [L, D])."""
    layers = model.model.layers
    outs, normed = [], []
    first = lambda o: o[0] if isinstance(o, tuple) else o
    hooks = [layer.register_forward_hook(lambda mod, i, o: outs.append(first(o)[0].clone())) for layer in layers]
    hooks.append(model.model.norm.register_forward_hook(lambda mod, i, o: normed.append(o[0].clone())))
    try:
        out = model(input_ids=tokens.view(1, -1), use_cache=False, output_hidden_states=True)
    finally:
        for h in hooks:
            h.remove()
    hs = torch.stack([h[0] for h in out.hidden_states]).float()
    n = len(layers)
    assert hs.shape[0] == n + 1 and len(outs) == n and len(normed) == 1
    emb = model.model.embed_tokens(tokens)
    assert torch.equal(hs[0], emb), "hidden_states[0] is not the embeddings"
    for i in range(n - 1):
        assert torch.equal(hs[i + 1], outs[i]), f"hidden_states[{i + 1}] is not layer {i}'s output"
    assert torch.equal(hs[n], normed[0]), "hidden_states[n] is not the final norm's output"
    assert not torch.equal(hs[n], outs[n - 1])
    return hs, outs[n - 1].float()


def make(name):
    model = load_model(name)
    ref = load_file(os.path.join(REF_DIR, name + ".safetensors"))
    out = {}
    for L in LENGTHS:
        toks = ref[f"tokens_{L}"]
        err = (full_logits(model, toks) - ref[f"logits_{L}"]).abs().max().item()
        assert err <= 1e-5, (name, L, err)
        hs, last = hidden_states(model, toks)
        out[f"hidden_{L}"], out[f"last_layer_{L}"] = hs.contiguous(), last.contiguous()
    path = os.path.join(REF_DIR, name + ".hidden.safetensors")
    save_file(out, path, metadata={"format": "pt"})
    print(f"{name}: {out['hidden_40'].shape[0] - 1} layers, |h| max {out['hidden_40'].abs().max():.2f}; "
          f"{os.path.getsize(path)} bytes")


def main():
    only = set(sys.argv[1:])
    for name in sorted(os.listdir(MODELS_DIR)):
        if not only or name in only:
            make(name)


if __name__ == "__main__":
    main()
