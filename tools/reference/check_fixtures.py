#!/usr/bin/env python3
"""Independent check of every committed fixture: a from-scratch forward pass in plain
torch (no transformers), driven only by config.json + the weight files, the way the
Swift runtime reads them. Compares logits (and MoE routing) with reference/*.safetensors,
replays the greedy continuation, and prints file sizes.

    python3 tools/reference/check_fixtures.py
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MODELS_DIR, REF_DIR, SEQ_LENS, load_weights, dir_size

torch.set_num_threads(1)


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def poly(kind, x, w, b):
    if kind == "polynorm":
        n = lambda v: v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + 1e-6)
        return w[0] * n(x ** 3) + w[1] * n(x ** 2) + w[2] * n(x) + b
    if kind == "polyrelu":
        r = torch.relu(x)
        return w[0] * r ** 3 + w[1] * r ** 2 + w[2] * r + b
    raise ValueError(kind)


def llama3_scaled(inv, s):
    """Llama 3 rope_scaling, written from Meta's reference formula."""
    factor, low, high = s["factor"], s.get("low_freq_factor", 1.0), s.get("high_freq_factor", 4.0)
    old = s.get("original_max_position_embeddings", 8192)
    wavelen = 2 * math.pi / inv
    smooth = (old / wavelen - low) / (high - low)
    mid = (1 - smooth) * inv / factor + smooth * inv
    return torch.where(wavelen < old / high, inv, torch.where(wavelen > old / low, inv / factor, mid))


def rope(x, pos, theta, scaling=None):  # x [H, L, hd], HF rotate_half convention
    hd = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    if scaling is not None:
        assert scaling["rope_type"] == "llama3", scaling
        inv = llama3_scaled(inv, scaling)
    f = pos.float()[:, None] * inv[None, :]
    emb = torch.cat([f, f], -1)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return x * emb.cos() + torch.cat([-x2, x1], -1) * emb.sin()


def forward(cfg, W, tokens, record=None, hidden=None):
    """Logits [L, V]; appends the router's top-k per layer to `record` and, to `hidden`, the
    embeddings, every layer's output and the final norm's output (each [L, D])."""
    mt, act = cfg["model_type"], cfg["hidden_act"]
    D, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or D // H
    eps = cfg["rms_norm_eps"]
    L = tokens.numel()
    pos = torch.arange(L)
    x = W["model.embed_tokens.weight"][tokens]
    keep = (lambda t: hidden.append(t)) if hidden is not None else (lambda t: None)
    keep(x)
    mask = torch.full((L, L), float("-inf")).triu(1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms(x, W[p + "input_layernorm.weight"], eps)
        q, k, v = (h @ W[p + f"self_attn.{n}_proj.weight"].T for n in "qkv")
        if mt == "olmoe":
            q = rms(q, W[p + "self_attn.q_norm.weight"], eps)
            k = rms(k, W[p + "self_attn.k_norm.weight"], eps)
            c = cfg.get("clip_qkv")
            if c is not None:
                q, k, v = q.clamp(-c, c), k.clamp(-c, c), v.clamp(-c, c)
        q = rope(q.view(L, H, hd).transpose(0, 1), pos, cfg["rope_theta"], cfg.get("rope_scaling"))
        k = rope(k.view(L, KV, hd).transpose(0, 1), pos, cfg["rope_theta"], cfg.get("rope_scaling"))
        v = v.view(L, KV, hd).transpose(0, 1)
        k, v = k.repeat_interleave(H // KV, 0), v.repeat_interleave(H // KV, 0)
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, -1) @ v
        x = x + a.transpose(0, 1).reshape(L, H * hd) @ W[p + "self_attn.o_proj.weight"].T
        h = rms(x, W[p + "post_attention_layernorm.weight"], eps)
        if mt == "polyllama":
            u = h @ W[p + "mlp.up_proj.weight"].T
            if act in ("relu", "gelu"):  # the paper's fixed-activation baselines; HF "gelu" is erf GELU
                z = torch.relu(u) if act == "relu" else 0.5 * u * (1 + torch.erf(u / math.sqrt(2)))
            else:
                z = poly(act, u, W[p + "mlp.act_fn.weight"], W[p + "mlp.act_fn.bias"])
            y = z @ W[p + "mlp.down_proj.weight"].T
        elif mt == "llama":
            g, u = h @ W[p + "mlp.gate_proj.weight"].T, h @ W[p + "mlp.up_proj.weight"].T
            y = (F.silu(g) * u) @ W[p + "mlp.down_proj.weight"].T
        else:
            E, K = cfg["num_experts"], cfg["num_experts_per_tok"]
            probs = torch.softmax(h @ W[p + "mlp.gate.weight"].T, -1)
            tw, ti = torch.topk(probs, K, -1)
            if record is not None:
                record.append(ti)
            if cfg["norm_topk_prob"]:
                tw = tw / tw.sum(-1, keepdim=True)
            fused = p + "mlp.experts.down_proj" in W
            Fi = cfg["intermediate_size"]
            y = torch.zeros_like(h)
            for t in range(L):
                for j in range(K):
                    e = int(ti[t, j])
                    ep = p + f"mlp.experts.{e}."
                    down = W[p + "mlp.experts.down_proj"][e] if fused else W[ep + "down_proj.weight"]
                    if act == "polynorm":
                        up = W[p + "mlp.experts.up_proj"][e] if fused else W[ep + "up_proj.weight"]
                        z = poly(act, h[t] @ up.T, W[p + "mlp.act_fn.weight"], W[p + "mlp.act_fn.bias"])
                    else:
                        if fused:
                            gu = W[p + "mlp.experts.gate_up_proj"][e]
                            gate, up = gu[:Fi], gu[Fi:]
                        else:
                            gate, up = W[ep + "gate_proj.weight"], W[ep + "up_proj.weight"]
                        z = F.silu(h[t] @ gate.T) * (h[t] @ up.T)
                    y[t] += tw[t, j] * (z @ down.T)
        x = x + y
        keep(x)
    x = rms(x, W["model.norm.weight"], eps)
    keep(x)
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return x @ head.T


def main():
    total = 0
    names = sorted(os.listdir(MODELS_DIR))
    worst = 0.0
    for name in names:
        d = os.path.join(MODELS_DIR, name)
        cfg = json.load(open(os.path.join(d, "config.json")))
        W = {k: v.float() for k, v in load_weights(d).items()}
        ref = load_file(os.path.join(REF_DIR, name + ".safetensors"))
        assert ("lm_head.weight" in W) != cfg["tie_word_embeddings"]
        errs = []
        for L in SEQ_LENS:
            rec = []
            lg = forward(cfg, W, ref[f"tokens_{L}"], rec)
            errs.append((lg - ref[f"logits_{L}"]).abs().max().item())
            if rec:
                assert torch.equal(torch.stack(rec), ref[f"topk_{L}"]), (name, L)
        hidden_path = os.path.join(REF_DIR, name + ".hidden.safetensors")
        hidden_ref = load_file(hidden_path)
        for L in (7, 40):
            hs = []
            forward(cfg, W, ref[f"tokens_{L}"], hidden=hs)
            n = len(hs) - 2
            # transformers' hidden_states: embeddings, layers 0..n-2, final norm; layer n-1 apart.
            expected = list(hidden_ref[f"hidden_{L}"][:n]) + [hidden_ref[f"last_layer_{L}"], hidden_ref[f"hidden_{L}"][n]]
            errs.append(max((a - b).abs().max().item() for a, b in zip(hs, expected)))
        seq = ref["greedy_prompt"].clone()
        for _ in range(ref["greedy_tokens"].numel()):
            seq = torch.cat([seq, forward(cfg, W, seq)[-1].argmax().view(1)])
        assert torch.equal(seq[ref["greedy_prompt"].numel():], ref["greedy_tokens"]), name
        sz = dir_size(d) + os.path.getsize(os.path.join(REF_DIR, name + ".safetensors")) + os.path.getsize(hidden_path)
        total += sz
        worst = max(worst, max(errs))
        print(f"{name:28s} max|dlogits|, |dhidden| {max(errs):.2e}  greedy ok  {'topk ok  ' if 'topk_1' in ref else ''}"
              f"{sz / 1024:.0f} KiB")
        assert max(errs) < 5e-5, name
    print(f"all fixtures: {total / 1024:.0f} KiB; worst logits error {worst:.2e}")
    assert total < 8 * 1024 * 1024


if __name__ == "__main__":
    main()
