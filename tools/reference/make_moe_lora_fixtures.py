#!/usr/bin/env python3
"""Write the LoRA-on-experts fixture with Hugging Face PEFT on the MoE training fixture
olmoe-polynorm-e8k2 (transformers' OlmoeForCausalLM, PolyNorm experts in the per-expert
layout, make_moe_training_fixtures.py):

    python3 tools/reference/make_moe_lora_fixtures.py

PEFT LoRA targets q_proj, v_proj and the experts' up_proj and down_proj (PEFT matches the
module name at any depth: model.layers.{i}.mlp.experts.{e}.up_proj); the router gate stays
frozen. The adapter (init_lora_weights=True: Kaiming-uniform A, zero B) is trained
PRE_STEPS steps with the router losses on and saved with save_pretrained to
Tests/Fixtures/adapters/moe-experts/. From that saved adapter: the objective
CE / target tokens + aux * lb + z * z-loss on a fixed batch (re-rolled until no router
near-tie, as make_moe_training_fixtures.py) and its gradients with respect to every
adapter tensor (PEFT names): Tests/Fixtures/reference/lora-moe-experts.safetensors with
grad_tokens, grad_targets, grad_loss F64 [ce, lb, z], grad_router F64 [aux, z] and grad.<name>.
"""
import os
import shutil
import sys

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, write_reference
from make_lora_fixtures import peft_name, lora_params
from make_moe_training_fixtures import load_model, objective_terms, MIN_GAP
from make_training_fixtures import clm_targets

ADAPTERS_DIR = os.path.join(REPO, "Tests", "Fixtures", "adapters")
CASE = "moe-experts"
MODEL = "olmoe-polynorm-e8k2"
T = 16
GRAD_B = 2
PRE_STEPS = 3
R, ALPHA = 4, 8
TARGETS = ["q_proj", "v_proj", "up_proj", "down_proj"]
AUX, Z = 0.1, 0.01
LR = 1e-2


def main():
    torch.manual_seed(9800)
    torch.set_num_threads(1)
    base, m = load_model(MODEL)
    cfg = LoraConfig(r=R, lora_alpha=ALPHA, target_modules=TARGETS, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(base, cfg)
    model.train()
    names = [n for n, _ in lora_params(model)]
    assert any(".mlp.experts.0.up_proj." in n for n in names) and not any(".mlp.gate." in n for n in names), names[:8]
    params = [p for _, p in lora_params(model)]
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.0)
    g = torch.Generator().manual_seed(9801)
    for _ in range(PRE_STEPS):  # B starts at zero: a few steps make A's gradient non-zero
        tokens = torch.randint(0, m["vocab"], (GRAD_B, T), generator=g, dtype=torch.int64)
        targets = clm_targets(tokens)
        ce, lb, z, _, _ = objective_terms(model, tokens, targets, m["k"], m["experts"])
        (ce / int((targets != -100).sum()) + AUX * lb + Z * z).backward()
        opt.step()
        opt.zero_grad()
    out_dir = os.path.join(ADAPTERS_DIR, CASE)
    shutil.rmtree(out_dir, ignore_errors=True)
    model.save_pretrained(out_dir)
    os.remove(os.path.join(out_dir, "README.md"))  # the model card PEFT writes: not needed
    assert set(load_file(os.path.join(out_dir, "adapter_model.safetensors"))) == set(names)

    for attempt in range(200):
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
    (ce / n + AUX * lb + Z * z).backward()
    ref = {"grad_tokens": tokens, "grad_targets": targets,
           "grad_loss": torch.tensor([ce.item() / n, lb.item(), z.item()], dtype=torch.float64),
           "grad_router": torch.tensor([AUX, Z], dtype=torch.float64)}
    for name, p in lora_params(model):
        ref["grad." + name] = p.grad.detach().clone()
    write_reference(ref, "lora-" + CASE)
    experts = sum(".experts." in x for x in names)
    print(f"{CASE}: {len(names)} adapter tensors ({experts} on experts); (ce, lb, z) "
          f"{[round(x, 5) for x in ref['grad_loss'].tolist()]}; router gap {gap:.2e}")


if __name__ == "__main__":
    main()
