#!/usr/bin/env python3
"""Write the trainer's reference fixtures: per-tensor gradients on a fixed batch and ten
optimizer steps of polycom's training recipe, computed with PyTorch autograd on
transformers' LlamaForCausalLM (PolyCom MLP patch as in make_dense_fixtures.py).

    python3 tools/reference/make_training_fixtures.py

Models: the committed dense fixtures polynorm-f32 (untied), polyrelu-tied (tied
embeddings) and llama-swiglu-gqa (gated SiLU, GQA), loaded from their folders.
Output: Tests/Fixtures/reference/training-<name>.safetensors (see Tests/Fixtures/README.md).

The recipe: step s accumulates micro-batches g = 0..G-1 holding blocks
(s*G+g)*B .. +B-1 modulo the block count; loss = summed token cross-entropy over the step
divided by the step's target tokens; lr(s) = lr*(s+1)/W for s < W, then cosine to
lr*min_ratio over S-W steps; clip_grad_norm_ (grad_norm reported before clipping);
torch.optim.AdamW with weight decay on tensors of 2+ dimensions only.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from transformers import LlamaConfig

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MODELS_DIR, load_weights, write_reference
from make_dense_fixtures import MODELS, build_model

T = 16
GRAD_B = 2
STEP_BLOCKS = 6
RECIPES = {
    # Clipping active (random models start with gradient norms well above 1).
    "polynorm-f32": dict(lr=1e-2, warmup=3, steps=10, min_ratio=0.1, wd=0.1, beta1=0.9, beta2=0.95, eps=1e-8,
                         clip=1.0, batch=2, accum=2),
    "polyrelu-tied": dict(lr=5e-3, warmup=2, steps=10, min_ratio=0.1, wd=0.1, beta1=0.9, beta2=0.95, eps=1e-8,
                          clip=1.0, batch=2, accum=2),
    # Clipping inactive, no accumulation, no weight decay.
    "llama-swiglu-gqa": dict(lr=3e-3, warmup=4, steps=10, min_ratio=0.0, wd=0.0, beta1=0.9, beta2=0.999, eps=1e-6,
                             clip=1e6, batch=3, accum=1),
}
RECIPE_KEYS = ["lr", "warmup", "steps", "min_ratio", "wd", "beta1", "beta2", "eps", "clip", "batch", "accum"]


def load_model(name):
    m = next(x for x in MODELS if x["name"] == name)
    folder = os.path.join(MODELS_DIR, name)
    with open(os.path.join(folder, "config.json")) as f:
        d = json.load(f)
    d["model_type"], d["hidden_act"] = "llama", "silu"
    for k in ("dtype", "torch_dtype", "architectures", "transformers_version"):
        d.pop(k, None)
    model = build_model(m, LlamaConfig(**d))
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in load_weights(folder).items()}, strict=False)
    assert not unexpected and all(k == "lm_head.weight" and m["tied"] for k in missing), (missing, unexpected)
    model.train()
    return model, m


def clm_targets(blocks):
    """Position t predicts token t+1; the last position has no target."""
    y = torch.full_like(blocks, -100)
    y[:, :-1] = blocks[:, 1:]
    return y


def summed_ce(model, tokens, targets):
    logits = model(input_ids=tokens, use_cache=False).logits.float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100, reduction="sum")


def lr_at(s, r):
    lr, W, S = r["lr"], r["warmup"], r["steps"]
    if s < W:
        return lr * (s + 1) / W
    lo = lr * r["min_ratio"]
    return lo + (lr - lo) * 0.5 * (1 + math.cos(math.pi * (s - W) / max(1, S - W)))


def named_params(model):
    """Trainable tensors under their checkpoint names (a tied head is the embedding)."""
    return [(n, p) for n, p in model.named_parameters()]


def gradients(model, vocab, seed):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, vocab, (GRAD_B, T), generator=g, dtype=torch.int64)
    targets = clm_targets(tokens)
    targets[1, :5] = -100  # a masked prompt: the ignore index inside a sequence
    model.zero_grad()
    ce = summed_ce(model, tokens, targets)
    n = int((targets != -100).sum())
    (ce / n).backward()
    out = {"grad_tokens": tokens, "grad_targets": targets, "grad_loss": torch.tensor([ce.item() / n], dtype=torch.float64)}
    for name, p in named_params(model):
        out["grad." + name] = p.grad.detach().clone()
    model.zero_grad()
    return out


def recipe_optimizer(params, r):
    """AdamW with weight decay on matrices only (dim >= 2), as polycom's recipe."""
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": r["wd"]},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=r["lr"], betas=(r["beta1"], r["beta2"]), eps=r["eps"])


def micro_batches(s, r, n_blocks):
    """Step s's micro-batches: block indices in order, wrapping around the blocks."""
    B, G = r["batch"], r["accum"]
    return [[((s * G + gi) * B + j) % n_blocks for j in range(B)] for gi in range(G)]


def clip_and_step(opt, params, s, r):
    """Clips the gradient norm, sets step s's learning rate, steps; returns (norm, lr)."""
    norm = torch.nn.utils.clip_grad_norm_(params, r["clip"])
    lr = lr_at(s, r)
    for group in opt.param_groups:
        group["lr"] = lr
    opt.step()
    opt.zero_grad()
    return float(norm), lr


def recipe_steps(model, params, blocks, r, n_steps):
    """n_steps of the recipe on blocks (cross-entropy summed over the step's target tokens,
    divided by their count); returns the per-step losses, learning rates and gradient norms."""
    targets = clm_targets(blocks)
    opt = recipe_optimizer(params, r)
    losses, lrs, norms = [], [], []
    for s in range(n_steps):
        micro = micro_batches(s, r, blocks.shape[0])
        n = sum(int((targets[idx] != -100).sum()) for idx in micro)
        total = 0.0
        for idx in micro:
            ce = summed_ce(model, blocks[idx], targets[idx])
            (ce / n).backward()
            total += ce.item()
        norm, lr = clip_and_step(opt, params, s, r)
        losses.append(total / n)
        lrs.append(lr)
        norms.append(norm)
    return losses, lrs, norms


def ten_steps(model, vocab, seed, r):
    g = torch.Generator().manual_seed(seed)
    blocks = torch.randint(0, vocab, (STEP_BLOCKS, T), generator=g, dtype=torch.int64)
    losses, lrs, norms = recipe_steps(model, [p for _, p in named_params(model)], blocks, r, r["steps"])
    return {"steps_blocks": blocks,
            "steps_loss": torch.tensor(losses, dtype=torch.float64),
            "steps_lr": torch.tensor(lrs, dtype=torch.float64),
            "steps_grad_norm": torch.tensor(norms, dtype=torch.float64),
            "steps_recipe": torch.tensor([float(r[k]) for k in RECIPE_KEYS], dtype=torch.float64)}


def make(name, seed):
    model, m = load_model(name)
    ref = gradients(model, m["vocab"], seed)
    ref.update(ten_steps(model, m["vocab"], seed + 1, RECIPES[name]))
    write_reference(ref, "training-" + name)
    norms = ref["steps_grad_norm"].tolist()
    clip = RECIPES[name]["clip"]
    print(f"{name}: grad loss {ref['grad_loss'].item():.5f}; losses {[round(x, 4) for x in ref['steps_loss'].tolist()]}; "
          f"grad norms {[round(x, 3) for x in norms]}; clipped at {sum(x > clip for x in norms)} of {len(norms)} steps")


def main():
    torch.manual_seed(0)
    for i, name in enumerate(RECIPES):
        make(name, 9100 + 10 * i)


if __name__ == "__main__":
    main()
