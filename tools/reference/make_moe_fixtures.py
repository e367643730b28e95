#!/usr/bin/env python3
"""Write the MoE test fixtures: tiny OLMoE-style HF checkpoints + reference outputs.

    python3 tools/reference/make_moe_fixtures.py

Reference model = transformers' OlmoeForCausalLM (eager attention, f32, CPU):
QK-norm over the full q/k projections, optional clip_qkv, router `mlp.gate` [E, D],
softmax in fp32, top-k, renormalised only if norm_topk_prob.
PolyNorm variant: OlmoeSparseMoeBlock subclass whose experts are plain MLPs
down_proj(act_fn(up_proj(x))) sharing ONE PolyNorm per layer (mlp.act_fn); the
routing/combination code is transformers' own (inherited forward).
Outputs (under Tests/Fixtures/): models/<name>/, reference/<name>.safetensors.
Deterministic: fixed seeds, one CPU thread.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import OlmoeConfig, OlmoeForCausalLM
from transformers.models.olmoe.modeling_olmoe import OlmoeSparseMoeBlock, OlmoeAttention

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (MODELS_DIR, SEQ_LENS, PolyNorm, init_poly_act, init_weights, full_logits,
                    pick_greedy_prompt, check_generate_matches, random_tokens, write_config,
                    write_weights, load_weights, write_reference, dir_size)

ROUTER_MIN_GAP = 1e-4  # min router-probability gap between adjacent ranks 1..k+1


class PolyNormExpert(nn.Module):
    """Plain MLP expert; the PolyNorm module is shared per layer (not registered here)."""

    def __init__(self, hidden, inter, act):
        super().__init__()
        self.up_proj = nn.Linear(hidden, inter, bias=False)
        self.down_proj = nn.Linear(inter, hidden, bias=False)
        self.__dict__["_shared_act"] = act  # bypass nn.Module registration

    def forward(self, x):
        return self.down_proj(self._shared_act(self.up_proj(x)))


class PolyNormSparseMoeBlock(OlmoeSparseMoeBlock):
    """transformers' OlmoeSparseMoeBlock (forward inherited unchanged) with PolyNorm experts."""

    def __init__(self, config):
        super().__init__(config)
        self.act_fn = PolyNorm()
        self.experts = nn.ModuleList(
            [PolyNormExpert(config.hidden_size, config.intermediate_size, self.act_fn)
             for _ in range(config.num_experts)])


MODELS = [
    dict(name="olmoe-polynorm-e8k2", act="polynorm", seed=5005, experts=8, k=2, norm_topk=False,
         layout="per-expert", hidden=64, inter=48, layers=2, heads=4, kv=4, vocab=320, clip=None,
         bos=0),
    dict(name="olmoe-polynorm-e6k3-fused", act="polynorm", seed=6006, experts=6, k=3, norm_topk=True,
         layout="fused", hidden=64, inter=48, layers=2, heads=4, kv=4, vocab=320, clip=None,
         bos=0),
    dict(name="olmoe-swiglu-e8k2", act="silu", seed=7007, experts=8, k=2, norm_topk=False,
         layout="per-expert", hidden=64, inter=32, layers=2, heads=4, kv=4, vocab=320, clip=2.0,
         bos=None),
    dict(name="olmoe-swiglu-e6k3-fused", act="silu", seed=8008, experts=6, k=3, norm_topk=True,
         layout="fused", hidden=64, inter=32, layers=2, heads=4, kv=2, vocab=320, clip=None,
         bos=None),
]


def hf_config(m):
    cfg = OlmoeConfig(
        vocab_size=m["vocab"], hidden_size=m["hidden"], intermediate_size=m["inter"],
        num_hidden_layers=m["layers"], num_attention_heads=m["heads"], num_key_value_heads=m["kv"],
        hidden_act="silu", max_position_embeddings=128, rms_norm_eps=1e-5, rope_theta=10000.0,
        num_experts=m["experts"], num_experts_per_tok=m["k"], norm_topk_prob=m["norm_topk"],
        clip_qkv=m["clip"], tie_word_embeddings=False, bos_token_id=m["bos"], eos_token_id=319,
        pad_token_id=1, attention_bias=False, initializer_range=0.02, use_cache=True,
        output_router_logits=False,
    )
    cfg._attn_implementation = "eager"
    return cfg


def build_model(m, cfg):
    model = OlmoeForCausalLM(cfg)
    for layer in model.model.layers:
        assert type(layer.self_attn) is OlmoeAttention  # eager
        if m["act"] == "polynorm":
            layer.mlp = PolyNormSparseMoeBlock(cfg)
    model.eval()
    return model


class RouterRecorder:
    """Forward hooks on every layer's sparse block: recompute transformers' routing
    (softmax in fp32 over router_logits, torch.topk) from the router_logits the block returns."""

    def __init__(self, model, k):
        self.k = k
        self.layers = []
        self.handles = [layer.mlp.register_forward_hook(self._hook) for layer in model.model.layers]

    def _hook(self, module, inp, out):
        router_logits = out[1]
        probs = F.softmax(router_logits, dim=1, dtype=torch.float)
        _, sel = torch.topk(probs, self.k, dim=-1)
        srt = torch.sort(probs, dim=-1, descending=True).values[:, : self.k + 1]
        gap = float((srt[:, :-1] - srt[:, 1:]).min())
        self.layers.append((sel.clone(), gap))

    def run(self, model, tokens):
        """(logits [L, V], topk [layers, L, k], min adjacent-rank gap)."""
        self.layers = []
        logits = full_logits(model, tokens)
        topk = torch.stack([s for s, _ in self.layers]).to(torch.int64)
        return logits, topk, min(g for _, g in self.layers)

    def remove(self):
        for h in self.handles:
            h.remove()


def tensors_to_store(model, m):
    sd = {k: v.detach().to(torch.float32) for k, v in model.state_dict().items() if "rotary_emb" not in k}
    if m["layout"] == "per-expert":
        return sd
    out = {}
    E = m["experts"]
    for k, v in sd.items():
        if ".mlp.experts." not in k:
            out[k] = v
    for i in range(m["layers"]):
        p = f"model.layers.{i}.mlp.experts"
        ups = [sd[f"{p}.{e}.up_proj.weight"] for e in range(E)]
        downs = [sd[f"{p}.{e}.down_proj.weight"] for e in range(E)]
        if m["act"] == "polynorm":
            out[f"{p}.up_proj"] = torch.stack(ups)                                   # [E, F, D]
        else:
            gates = [sd[f"{p}.{e}.gate_proj.weight"] for e in range(E)]
            out[f"{p}.gate_up_proj"] = torch.stack(
                [torch.cat([g, u], dim=0) for g, u in zip(gates, ups)])              # [E, 2F, D]
        out[f"{p}.down_proj"] = torch.stack(downs)                                   # [E, D, F]
    return out


def unfuse(w, m):
    """Fused checkpoint tensors -> per-expert state-dict names (for the reload check)."""
    out = {}
    Fi = m["inter"]
    for k, v in w.items():
        if k.endswith(".mlp.experts.up_proj"):
            for e in range(v.shape[0]):
                out[k.replace("experts.up_proj", f"experts.{e}.up_proj.weight")] = v[e]
        elif k.endswith(".mlp.experts.down_proj"):
            for e in range(v.shape[0]):
                out[k.replace("experts.down_proj", f"experts.{e}.down_proj.weight")] = v[e]
        elif k.endswith(".mlp.experts.gate_up_proj"):
            assert v.shape[1] == 2 * Fi
            for e in range(v.shape[0]):
                out[k.replace("experts.gate_up_proj", f"experts.{e}.gate_proj.weight")] = v[e, :Fi]
                out[k.replace("experts.gate_up_proj", f"experts.{e}.up_proj.weight")] = v[e, Fi:]
        else:
            out[k] = v
    return out


def init_model(model, m, gen):
    init_weights(model, gen, linear_std=0.1, embed_std=0.5, head_std=0.12)
    with torch.no_grad():
        for layer in model.model.layers:
            # A slightly sharper router so routing is decisive.
            layer.mlp.gate.weight.copy_(0.2 * torch.randn(layer.mlp.gate.weight.shape, generator=gen))
            if m["act"] == "polynorm":
                init_poly_act(layer.mlp.act_fn, gen)


def make(m):
    name = m["name"]
    out_dir = os.path.join(MODELS_DIR, name)
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(m["seed"])
    gen = torch.Generator().manual_seed(m["seed"])
    cfg = hf_config(m)
    model = build_model(m, cfg)
    init_model(model, m, gen)

    overrides = {"architectures": ["OlmoeForCausalLM"], "model_type": "olmoe", "hidden_act": m["act"],
                 "bos_token_id": m["bos"]}
    cfg_json = write_config(cfg, out_dir, overrides, "float32")
    write_weights(tensors_to_store(model, m), out_dir, n_shards=1)

    rec = RouterRecorder(model, m["k"])
    ref = {}
    gaps = []
    for i, L in enumerate(SEQ_LENS):
        # Re-roll the token seed until no router near-tie (adjacent ranks 1..k+1).
        for attempt in range(100):
            toks = random_tokens(m["vocab"], L, m["seed"] * 10 + i + 1000 * attempt)
            logits, topk, gap = rec.run(model, toks)
            if gap > ROUTER_MIN_GAP:
                break
        else:
            raise RuntimeError("router near-ties everywhere")
        gaps.append(gap)
        ref[f"tokens_{L}"] = toks
        ref[f"logits_{L}"] = logits
        ref[f"topk_{L}"] = topk

    def router_ok(seq):
        _, _, g = rec.run(model, seq)
        return g > ROUTER_MIN_GAP

    prompt, gtoks, gap = pick_greedy_prompt(model, m["vocab"], m["seed"] * 100, eos_ids=(cfg.eos_token_id,),
                                            extra_ok_fn=router_ok)
    gaps.append(rec.run(model, torch.cat([prompt, gtoks]))[2])
    rec.remove()
    check_generate_matches(model, prompt, gtoks)
    ref["greedy_prompt"] = prompt
    ref["greedy_tokens"] = gtoks
    ref["greedy_min_gap"] = torch.tensor([gap], dtype=torch.float32)
    ref["router_min_gap"] = torch.tensor([min(gaps)], dtype=torch.float32)
    write_reference(ref, name)

    lg = ref["logits_40"]
    used = torch.unique(ref["topk_40"]).numel()
    print(f"{name}: logits_40 std {lg.std():.3f} absmax {lg.abs().max():.3f}; greedy min gap {gap:.4f}; "
          f"router min gap {min(gaps):.2e}; experts used (L=40) {used}/{m['experts']}; "
          f"prompt {prompt.tolist()} -> {gtoks.tolist()}; folder {dir_size(out_dir)} bytes")
    assert lg.std() > 0.3 and lg.abs().max() < 50, "logits flat or exploding"
    assert used == m["experts"], "some expert never routed to"
    if m["clip"] is not None:
        check_clip_matters(m, model, ref)
    verify(m, cfg_json, out_dir, ref)


def check_clip_matters(m, model, ref):
    """clip_qkv must change the output noticeably, or the fixture would not test it."""
    saved = model.config.clip_qkv
    model.config.clip_qkv = None
    try:
        unclipped = full_logits(model, ref["tokens_40"])
    finally:
        model.config.clip_qkv = saved
    diff = (unclipped - ref["logits_40"]).abs().max().item()
    print(f"  clip_qkv={saved}: max |logits(clipped) - logits(unclipped)| = {diff:.3f}")
    assert diff > 0.05, "clip_qkv has no visible effect"


def verify(m, cfg_json, out_dir, ref):
    """Reload the folder from disk into a fresh model and re-run (logits and routing)."""
    d = dict(cfg_json)
    assert d["model_type"] == "olmoe" and d["hidden_act"] == m["act"]
    for k in ("dtype", "torch_dtype", "architectures", "transformers_version"):
        d.pop(k, None)
    d["hidden_act"] = "silu"
    cfg = OlmoeConfig(**d)
    cfg._attn_implementation = "eager"
    assert cfg.clip_qkv == m["clip"] and cfg.norm_topk_prob == m["norm_topk"]
    model = build_model(m, cfg)
    w = load_weights(out_dir)
    for k, v in w.items():
        assert v.dtype == torch.float32 and "rotary_emb" not in k
    if m["layout"] == "fused":
        assert not any(".experts.0." in k for k in w)
        w = unfuse(w, m)
    else:
        assert any(".experts.0." in k for k in w)
    missing, unexpected = model.load_state_dict(w, strict=True)
    assert not missing and not unexpected
    rec = RouterRecorder(model, m["k"])
    for L in SEQ_LENS:
        got, topk, _ = rec.run(model, ref[f"tokens_{L}"])
        err = (got - ref[f"logits_{L}"]).abs().max().item()
        assert err <= 1e-5, (m["name"], L, err)
        assert torch.equal(topk, ref[f"topk_{L}"])
    rec.remove()
    print(f"  verified reload of {m['name']}: {len(load_weights(out_dir))} tensors")


def main():
    only = set(sys.argv[1:])
    for m in MODELS:
        if only and m["name"] not in only:
            continue
        make(m)


if __name__ == "__main__":
    main()
