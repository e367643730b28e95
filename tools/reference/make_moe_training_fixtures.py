#!/usr/bin/env python3
"""Write the MoE trainer's reference fixtures: per-tensor gradients on a fixed batch and
ten optimizer steps of polycom's recipe with the router losses, computed with PyTorch
autograd on transformers' OlmoeForCausalLM (PolyNorm experts patched in as in
make_moe_fixtures.py).

    python3 tools/reference/make_moe_training_fixtures.py

Models: the committed MoE fixtures olmoe-polynorm-e8k2 (per-expert layout),
olmoe-swiglu-e6k3-fused (fused layout, norm_topk_prob, GQA) and olmoe-swiglu-e8k2
(clip_qkv 2.0), loaded from their folders.
Output: Tests/Fixtures/reference/training-<name>.safetensors.

Objective of a step: summed token cross-entropy / the step's target tokens
+ sum over micro-batches g of (aux_coef * lb_g + z_coef * z_g) / G, where for the router
logits of all layers of micro-batch g concatenated (rows r, [L*T, E]):
lb = transformers' load_balancing_loss_func (E * sum_j sum_e f[j,e] P[e]) and
z = mean_r logsumexp(logits_r)^2. Gradients flow through softmax probabilities, never
through the top-k selection. Tokens are re-rolled until no router near-tie (adjacent ranks
1..k+1 closer than MIN_GAP) occurs anywhere in the gradient batch or any of the ten steps,
so float rounding cannot change a selection.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from transformers import OlmoeConfig
from transformers.models.olmoe.modeling_olmoe import load_balancing_loss_func

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MODELS_DIR, load_weights, write_reference
from make_moe_fixtures import MODELS, build_model, unfuse
from make_training_fixtures import clm_targets, clip_and_step, micro_batches, recipe_optimizer, RECIPE_KEYS

T = 16
GRAD_B = 2
STEP_BLOCKS = 6
MIN_GAP = 2e-5
RECIPES = {
    # Router losses on (coefficients raised so their gradients are visible), clipping active.
    "olmoe-polynorm-e8k2": dict(lr=1e-2, warmup=3, steps=10, min_ratio=0.1, wd=0.1, beta1=0.9, beta2=0.95, eps=1e-8,
                                clip=1.0, batch=2, accum=2, aux=0.1, z=0.01),
    "olmoe-swiglu-e6k3-fused": dict(lr=5e-3, warmup=2, steps=10, min_ratio=0.1, wd=0.1, beta1=0.9, beta2=0.95,
                                    eps=1e-8, clip=1.0, batch=3, accum=1, aux=0.01, z=0.001),
    "olmoe-swiglu-e8k2": dict(lr=3e-3, warmup=2, steps=10, min_ratio=0.0, wd=0.0, beta1=0.9, beta2=0.999, eps=1e-6,
                              clip=1e6, batch=2, accum=2, aux=0.0, z=0.0),
}
KEYS = RECIPE_KEYS + ["aux", "z"]


def load_model(name):
    m = next(x for x in MODELS if x["name"] == name)
    folder = os.path.join(MODELS_DIR, name)
    with open(os.path.join(folder, "config.json")) as f:
        d = json.load(f)
    for k in ("dtype", "torch_dtype", "architectures", "transformers_version"):
        d.pop(k, None)
    d["hidden_act"] = "silu"
    cfg = OlmoeConfig(**d)
    cfg._attn_implementation = "eager"
    model = build_model(m, cfg)
    w = load_weights(folder)
    if m["layout"] == "fused":
        w = unfuse(w, m)
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in w.items()}, strict=True)
    assert not missing and not unexpected
    model.train()
    return model, m


def objective_terms(model, tokens, targets, k, E):
    """(summed CE, lb, z, min adjacent-rank router gap, tokens per expert per layer)."""
    out = model(input_ids=tokens, use_cache=False, output_router_logits=True)
    logits = out.logits.float()
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100, reduction="sum")
    router = tuple(out.router_logits)
    lb = load_balancing_loss_func(router, E, k)
    cat = torch.cat(router, dim=0).float()
    z = torch.logsumexp(cat, dim=-1).pow(2).mean()
    with torch.no_grad():
        srt = torch.sort(F.softmax(cat, dim=-1), dim=-1, descending=True).values[:, :k + 1]
        gap = float((srt[:, :-1] - srt[:, 1:]).min())
        counts = torch.stack([torch.bincount(torch.topk(F.softmax(r.float(), -1), k, -1).indices.reshape(-1), minlength=E)
                              for r in router])
    return ce, lb, z, gap, counts


def gradients(model, m, r, seed):
    for attempt in range(200):
        g = torch.Generator().manual_seed(seed + 1000 * attempt)
        tokens = torch.randint(0, m["vocab"], (GRAD_B, T), generator=g, dtype=torch.int64)
        targets = clm_targets(tokens)
        targets[1, :5] = -100
        model.zero_grad()
        ce, lb, z, gap, _ = objective_terms(model, tokens, targets, m["k"], m["experts"])
        if gap > MIN_GAP:
            break
    else:
        raise RuntimeError("router near-ties everywhere")
    n = int((targets != -100).sum())
    (ce / n + r["aux"] * lb + r["z"] * z).backward()
    out = {"grad_tokens": tokens, "grad_targets": targets,
           "grad_loss": torch.tensor([ce.item() / n, lb.item(), z.item()], dtype=torch.float64)}
    for name, p in model.named_parameters():
        out["grad." + name] = p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
    model.zero_grad()
    return out, gap


def ten_steps(model, m, r, seed):
    """One attempt; returns None when a router near-tie occurs at some step."""
    g = torch.Generator().manual_seed(seed)
    blocks = torch.randint(0, m["vocab"], (STEP_BLOCKS, T), generator=g, dtype=torch.int64)
    targets = clm_targets(blocks)
    params = [p for _, p in model.named_parameters()]
    opt = recipe_optimizer(params, r)
    G = r["accum"]
    rows = {k: [] for k in ("loss", "ce", "aux", "z", "lr", "norm")}
    counts_first = None
    min_gap = 1.0
    for s in range(r["steps"]):
        micro = micro_batches(s, r, STEP_BLOCKS)
        n = sum(int((targets[idx] != -100).sum()) for idx in micro)
        ce_sum = lb_sum = z_sum = 0.0
        for idx in micro:
            ce, lb, z, gap, counts = objective_terms(model, blocks[idx], targets[idx], m["k"], m["experts"])
            min_gap = min(min_gap, gap)
            (ce / n + (r["aux"] * lb + r["z"] * z) / G).backward()
            ce_sum, lb_sum, z_sum = ce_sum + ce.item(), lb_sum + lb.item(), z_sum + z.item()
            if s == 0:  # tokens per expert per layer over the first step's micro-batches
                counts_first = counts if counts_first is None else counts_first + counts
        norm, lr = clip_and_step(opt, params, s, r)
        rows["ce"].append(ce_sum / n)
        rows["aux"].append(lb_sum / G)
        rows["z"].append(z_sum / G)
        rows["loss"].append(ce_sum / n + (r["aux"] * lb_sum + r["z"] * z_sum) / G)
        rows["lr"].append(lr)
        rows["norm"].append(norm)
    if min_gap <= MIN_GAP:
        return None
    f64 = lambda xs: torch.tensor(xs, dtype=torch.float64)
    return {"steps_blocks": blocks, "steps_loss": f64(rows["loss"]), "steps_ce_loss": f64(rows["ce"]),
            "steps_aux_loss": f64(rows["aux"]), "steps_z_loss": f64(rows["z"]), "steps_lr": f64(rows["lr"]),
            "steps_grad_norm": f64(rows["norm"]), "steps_router_counts_first": counts_first.to(torch.int64),
            "steps_recipe": f64([float(r[k]) for k in KEYS])}, min_gap


def make(name, seed):
    r = RECIPES[name]
    model, m = load_model(name)
    ref, gap = gradients(model, m, r, seed)
    for attempt in range(100):
        model, m = load_model(name)
        res = ten_steps(model, m, r, seed + 1 + 7919 * attempt)
        if res is not None:
            break
    else:
        raise RuntimeError(f"{name}: router near-ties in every ten-step attempt")
    steps, step_gap = res
    ref.update(steps)
    write_reference(ref, "training-" + name)
    norms = ref["steps_grad_norm"].tolist()
    print(f"{name}: grad (ce, lb, z) {[round(x, 5) for x in ref['grad_loss'].tolist()]} gap {gap:.2e}; "
          f"losses {[round(x, 4) for x in ref['steps_loss'].tolist()]}; step gap {step_gap:.2e}; "
          f"clipped at {sum(x > r['clip'] for x in norms)} of {len(norms)} steps")


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    for i, name in enumerate(RECIPES):
        make(name, 9500 + 10 * i)


if __name__ == "__main__":
    main()
